-- attack: table.insert/remove/move/sort/concat on read-only proxies (writes through lua_seti)
-- args: a b c
-- expect: exit=0 stdout~^ok$
local args = task.args
assert(#args == 3)
assert(not pcall(table.insert, args, "d"))
assert(not pcall(table.remove, args))
assert(not pcall(table.sort, args, function(a, b) return a > b end))
assert(not pcall(table.move, { "x" }, 1, 1, 1, args))
assert(not pcall(table.insert, string, "x"))
assert(table.concat(args, ",") == "a,b,c")
assert(table.move(args, 1, 3, 1, {})[3] == "c")
assert(args[1] == "a" and #args == 3)
print("ok")
