-- attack: a sibling module whose parse fails with a runtime error (deep nesting), to leak the host's error wrapper through require
-- file: deep.lua = return ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((
-- expect: exit=0 stdout~^ok$
local ok, err = pcall(require, "deep")
assert(not ok and type(err) == "string", type(err))
ok, err = pcall(function() return require "deep" end)
assert(not ok and getmetatable(err) == nil or getmetatable(err) == false)
print("ok")
