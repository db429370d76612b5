-- attack: plain assignment into library tables, bindings and nested binding tables
-- expect: exit=0 stdout~^ok$
assert(not pcall(function() string.x = 1 end))
assert(not pcall(function() math.pi = 3 end))
assert(not pcall(function() table.insert = nil end))
assert(not pcall(function() task.shard.index = 7 end))
assert(not pcall(function() task.args[1] = "x" end))
assert(not pcall(function() os.getenv = function() return "x" end end))
assert(not pcall(function() coroutine.wrap = nil end))
assert(math.pi > 3.14 and table.insert ~= nil and task.shard.index == 0)
print("ok")
