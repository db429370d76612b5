-- attack: print / tostring / log of values with hostile __tostring and __name
-- expect: exit=0 stdout~^ok$
assert(not pcall(print, setmetatable({}, { __tostring = function() return {} end })))
assert(not pcall(tostring, setmetatable({}, { __tostring = function() error("x") end })))
assert(tostring(setmetatable({}, { __name = 42 })):find("^table"))
assert(tostring(setmetatable({}, { __name = "X" })):find("^X"))
assert(not pcall(log.info, setmetatable({}, { __tostring = function() return {} end })))
print("ok")
