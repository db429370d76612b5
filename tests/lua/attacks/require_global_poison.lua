-- attack: reassign globals (string, json, require's friends) hoping require or the bindings pick the fakes
-- expect: exit=0 stdout~^ok$
local real_string, real_json = string, json
string = { format = function() return "pwned" end }
json = { encode = function() return "pwned" end }
_G.os = nil
assert(require("string") == real_string)
assert(require("json") == real_json)
assert(require("json").encode({ 1 }) == "[1]")
assert(require("os").time() > 0)
assert(("%d"):format(5) == "5")
print("ok")
