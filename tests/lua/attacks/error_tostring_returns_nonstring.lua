-- attack: __tostring returning a table, a number and nothing
-- expect: exit=1 stderr~__tostring failed
error(setmetatable({}, { __tostring = function() return {} end }))
