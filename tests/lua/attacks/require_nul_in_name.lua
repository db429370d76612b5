-- attack: a NUL byte in a module name to cut the checked name short of a traversal
-- file: a.lua = return "local-a"
-- outside: x.lua = return "escaped"
-- expect: exit=0 stdout~^ok$
local ok, r = pcall(require, "a\0/../../outside/x")
assert(r ~= "escaped")
assert(not ok or r == "local-a")
print("ok")
