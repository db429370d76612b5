-- attack: get or replace the shared string metatable
-- expect: exit=0 stdout~^ok$
assert(getmetatable("") == false)
assert(getmetatable("abc") == false)
assert(not pcall(setmetatable, "", {}))
assert(not pcall(rawset, getmetatable(""), "__index", {}))
assert(not pcall(function() getmetatable("").__index = {} end))
assert(("abc"):upper() == "ABC")
print("ok")
