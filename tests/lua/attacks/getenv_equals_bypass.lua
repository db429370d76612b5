-- attack: getenv("SECRET=prefix") matches the environment entry "SECRET=prefix..." and returns the rest of a masked value
-- env: BQLUA_MASK_ENV=DSN AWS_SECRET_ACCESS_KEY==s3cr3t-eq-value DSN=user=admin;password=hunter2-dsn
-- expect: exit=0 stdout~^ok$
assert(os.getenv("DSN") == nil)
assert(os.getenv("DSN=user") == nil)
assert(os.getenv("DSN=user=admin;password") == nil)
assert(os.getenv("AWS_SECRET_ACCESS_KEY=") == nil)
assert(os.getenv("=") == nil and os.getenv("") == nil)
print("ok")
