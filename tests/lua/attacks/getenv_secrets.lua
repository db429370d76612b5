-- attack: read AWS secrets and user-masked variables through os.getenv
-- env: AWS_SECRET_ACCESS_KEY=s3cr3t-test-value AWS_SESSION_TOKEN=sess-t0ken-value AWS_CONTAINER_AUTHORIZATION_TOKEN=ecs-auth-t0ken BQLUA_MASK_ENV=MY_TOKEN,DB_PASSWORD MY_TOKEN=hidden-my-token DB_PASSWORD=hunter2-db VISIBLE_VAR=visible
-- expect: exit=0 stdout~^ok$
for _, n in ipairs({ "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                     "MY_TOKEN", "DB_PASSWORD" }) do
  assert(os.getenv(n) == nil, n)
  assert(require("os").getenv(n) == nil, n)
end
assert(os.getenv("VISIBLE_VAR") == "visible")
assert(os.getenv("BQLUA_MASK_ENV") == "MY_TOKEN,DB_PASSWORD")
print("ok")
