-- attack: deep C recursion through nested string.gsub callbacks, metamethod chains, tostring and sort
-- expect: exit=0 stdout~^ok$
local function g(s) return (s:gsub(".", g)) end
local ok, err = pcall(g, "xy")
assert(not ok and tostring(err):find("stack overflow"), err)
local t = setmetatable({}, {})
getmetatable(t).__index = function(tt, k) return tt[k] end
ok, err = pcall(function() return t.x end)
assert(not ok and tostring(err):find("overflow"), err)
local s = setmetatable({}, {})
getmetatable(s).__tostring = function(x) return tostring(x) end
ok, err = pcall(tostring, s)
assert(not ok, err)
local c = setmetatable({}, {})
getmetatable(c).__concat = function(a, b) return a .. b end
ok = pcall(function() return c .. c end)
assert(not ok)
local function w() return coroutine.wrap(w)() end
ok, err = pcall(w)
assert(not ok and tostring(err):find("overflow"), err)
print("ok")
