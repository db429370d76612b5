-- attack: xpcall with handlers that error, recurse or overflow (error in error handling)
-- expect: exit=0 stdout~^ok$
local ok, err = xpcall(error, error, "x")
assert(not ok)
local function h(e) return 1 + h(e) end
ok = xpcall(error, h, "y")
assert(not ok)
ok = xpcall(function() local function f() return 1 + f() end return f() end, function(e) return e end)
assert(not ok)
print("ok")
