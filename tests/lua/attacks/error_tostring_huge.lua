-- attack: a __tostring returning a huge string to flood the report
-- stderr-max: 20000
-- expect: exit=1 stderr~^bqlua: xxxx
error(setmetatable({}, { __tostring = function() return ("x"):rep(5e7) end }))
