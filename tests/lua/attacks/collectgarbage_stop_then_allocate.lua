-- attack: stop the collector, then churn garbage until the heap outgrows the cap
-- options: --memory-limit 32M --timeout 50
-- expect: exit=0 stdout~^ok$
-- wall: 60
-- (1 MiB strings are slow under AddressSanitizer: generous bounds)
assert(not pcall(collectgarbage, "stop"))
for i = 1, 100 do
  local junk = ("x"):rep(1024 * 1024) .. i       -- 100 MiB of garbage: three times the cap
end
print("ok")
