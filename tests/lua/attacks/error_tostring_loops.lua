-- attack: an error object whose __tostring never returns (no --timeout: the host bounds it)
-- wall: 10
-- expect: exit=1 stderr~__tostring failed
error(setmetatable({}, { __tostring = function() while true do end end }))
