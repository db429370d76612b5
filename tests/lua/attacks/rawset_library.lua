-- attack: rawset into every library, binding and nested binding table
-- expect: exit=0 stdout~^ok$
local targets = { string = string, table = table, math = math, utf8 = utf8, coroutine = coroutine,
                  os = os, json = json, log = log, task = task, ["task.shard"] = task.shard,
                  ["task.args"] = task.args, ["bq.tsv"] = require "bq.tsv", ["bq.retry"] = require "bq.retry" }
for name, t in pairs(targets) do
  assert(not pcall(rawset, t, "x", 1), name)
  assert(not pcall(rawset, t, 1, 1), name)
  assert(rawget(t, "x") == nil, name)
  for k in pairs(t) do
    assert(not pcall(rawset, t, k, false), name .. "." .. tostring(k))
  end
end
assert(math.pi > 3 and math.huge > 0)
print("ok")
