-- attack: change task.args, task.shard, task.script to fool later code (bindings read the host copy)
-- args: a b
-- expect: exit=0 stdout~^ok$
arg[1] = "changed"
assert(task.args[1] == "a")
assert(not pcall(function() task.args[1] = "x" end))
assert(not pcall(function() task.shard.count = 0 end))
assert(not pcall(function() task.script = "s3://evil/x" end))
assert(task.shard.index == 0 and task.shard.count == 1)
assert(#task.args == 2 and select("#", ...) == 2)
print("ok")
