-- attack: ask load for binary-only mode ("b") and feed it bytecode
-- expect: exit=0 stdout~^ok$
local f, err = load("\27LuaT\0\25\147\r\n\26\n", "x", "b")
assert(f == nil and err:find("binary"), err)
-- the mode argument must be a string, as in Lua
assert(not pcall(load, "return 1", "x", {}))
print("ok")
