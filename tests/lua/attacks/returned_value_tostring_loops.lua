-- attack: return a table whose __tostring never returns as the exit status
-- wall: 10
-- expect: exit=1 stderr~the script returned
return setmetatable({}, { __tostring = function() while true do end end })
