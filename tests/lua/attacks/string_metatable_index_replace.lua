-- attack: replace string methods (assignment, rawset, setmetatable) so string methods and bindings run the script's code
-- expect: exit=0 stdout~^ok$
local evil = function() return "pwned" end
assert(not pcall(function() string.upper = evil end))
assert(not pcall(rawset, string, "upper", evil))
assert(not pcall(rawset, string, "format", evil))
assert(not pcall(setmetatable, string, { __index = { upper = evil } }))
assert(not pcall(function() string.newmethod = evil end))
assert(("abc"):upper() == "ABC")
assert(("%d-%s"):format(1, "x") == "1-x")
assert(("x").newmethod == nil)
assert(json.encode({ a = "b" }) == '{"a":"b"}')
print("ok")
