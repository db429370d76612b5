-- attack: setmetatable on libraries and bindings (to add __index/__newindex or swap behaviour)
-- expect: exit=0 stdout~^ok$
for name, t in pairs({ string = string, table = table, math = math, utf8 = utf8, coroutine = coroutine,
                       os = os, json = json, log = log, task = task, shard = task.shard }) do
  assert(getmetatable(t) == false, name)
  assert(not pcall(setmetatable, t, {}), name)
  assert(not pcall(setmetatable, t, nil), name)
end
assert(not pcall(setmetatable, json.null, {}))
print("ok")
