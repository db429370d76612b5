-- attack: return a table with a raising __tostring as the exit status (the host formats it unprotected)
-- expect: exit=1 stderr~the script returned
return setmetatable({}, { __tostring = function() error("boom") end })
