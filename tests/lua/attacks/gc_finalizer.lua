-- attack: a __gc finalizer on a script table (runs outside the limits, at teardown)
-- expect: exit=0 stdout~^ok$
assert(not pcall(setmetatable, {}, { __gc = function() print("FINALIZER RAN") end }))
assert(not pcall(setmetatable, {}, { __gc = false }))
assert(not pcall(setmetatable, {}, { __gc = true }))
assert(not pcall(setmetatable, {}, { __gc = "x" }))
collectgarbage()
print("ok")
