-- attack: a NUL byte or odd spelling in the variable name to slip past the mask list
-- env: AWS_SECRET_ACCESS_KEY=s3cr3t-nul-value BQLUA_MASK_ENV=MY_TOKEN MY_TOKEN=hidden-nul-token
-- expect: exit=0 stdout~^ok$
assert(os.getenv("AWS_SECRET_ACCESS_KEY\0") == nil)
assert(os.getenv("AWS_SECRET_ACCESS_KEY\0x") == nil)
assert(os.getenv("MY_TOKEN\0") == nil)
assert(os.getenv(" AWS_SECRET_ACCESS_KEY") == nil)
assert(os.getenv("aws_secret_access_key") == nil)
print("ok")
