-- attack: an error object whose __tostring itself raises (run by the host while reporting)
-- expect: exit=1 stderr~__tostring failed
error(setmetatable({}, { __tostring = function() error("inner") end }))
