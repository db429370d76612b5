-- attack: reach string.dump directly, through string methods, raw access, iteration or require
-- expect: exit=0 stdout~^ok$
assert(string.dump == nil)
assert(("").dump == nil)
assert(rawget(string, "dump") == nil)
assert(require("string").dump == nil)
for k in pairs(string) do assert(k ~= "dump") end
local k = next(string)
while k do assert(k ~= "dump"); k = next(string, k) end
assert(not pcall(function() return ("x"):dump() end))
print("ok")
