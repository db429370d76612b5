-- attack: a module path that is a directory (reading a directory as source)
-- dir: d.lua
-- expect: exit=0 stdout~^ok$
local ok = pcall(require, "d")
assert(not ok)
print("ok")
