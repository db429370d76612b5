-- attack: change the json.null sentinel or forge one (userdata metatable, equality)
-- expect: exit=0 stdout~^ok$
assert(getmetatable(json.null) == false)
assert(not pcall(setmetatable, json.null, {}))
assert(not pcall(function() json.null = {} end))
assert(json.decode("[null]")[1] == json.null)
assert(json.encode({ json.null }) == "[null]")
assert(json.encode(setmetatable({}, { __tostring = function() return "null" end })) == "{}")
print("ok")
