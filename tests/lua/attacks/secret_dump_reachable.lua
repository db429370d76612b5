-- attack: walk everything reachable (globals, libraries, bindings, bundled modules, arg) and print every string, hoping a secret was left somewhere
-- env: AWS_SECRET_ACCESS_KEY=s3cr3t-walk-value AWS_SESSION_TOKEN=sess-walk-token AWS_ACCESS_KEY_ID=AKIDWALK BQLUA_MASK_ENV=MY_TOKEN MY_TOKEN=hidden-walk-token
-- args: one two
-- expect: exit=0 stdout~ok$
local seen = {}
local function walk(v, depth)
  if depth > 8 or seen[v] then return end
  if type(v) == "string" then print(v) return end
  if type(v) ~= "table" then print(tostring(v)) return end
  seen[v] = true
  for k, x in pairs(v) do walk(k, depth + 1); walk(x, depth + 1) end
end
walk(_G, 0)
walk(require "bq.tsv", 0)
walk(require "bq.retry", 0)
for _, n in ipairs({ "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MY_TOKEN", "AWS_ACCESS_KEY_ID" }) do
  print(n, os.getenv(n))
end
print("ok")
