-- attack: hide __gc behind the metatable's own __index, or add it after setmetatable
-- expect: exit=0 stdout~^ok$
local mt = setmetatable({}, { __index = { __gc = function() print("FINALIZER RAN") end } })
assert(not pcall(setmetatable, {}, mt))
local later = {}
local keep = {}
for i = 1, 100 do keep[i] = setmetatable({}, later) end
later.__gc = function() print("FINALIZER RAN") end
keep = nil
collectgarbage(); collectgarbage()
local again = setmetatable({}, {})
assert(not pcall(setmetatable, again, later))
print("ok")
-- anything marked would run at lua_close; stdout must stay "ok"
