-- attack: stop the collector, then churn garbage until the heap outgrows the cap
-- options: --memory-limit 32M --timeout 20
-- expect: exit=0 stdout~^ok$
assert(not pcall(collectgarbage, "stop"))
for i = 1, 200 do
  local junk = ("x"):rep(1024 * 1024) .. i       -- 200 MiB of garbage in total
end
print("ok")
