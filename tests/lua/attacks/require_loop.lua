-- attack: modules that require each other in a cycle (and a module that requires itself)
-- file: a.lua = return require "b"
-- file: b.lua = return require "a"
-- file: self.lua = return require "self"
-- expect: exit=0 stdout~^ok$
local ok, err = pcall(require, "a")
assert(not ok and tostring(err):find("loop"), err)
ok, err = pcall(require, "self")
assert(not ok and tostring(err):find("loop"), err)
print("ok")
