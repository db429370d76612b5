-- attack: use a library proxy as a metatable or __index to inherit its protection or reach its backing table
-- expect: exit=0 stdout~^ok$
local t = setmetatable({}, string)
assert(getmetatable(t) == string)
assert(t.format == nil)            -- a proxy carries no metamethods of its own
local u = setmetatable({}, { __index = string })
assert(u.format == string.format)
u.format = 1                        -- u is the script's own table
assert(string.format ~= 1 and rawget(u, "format") == 1)
print("ok")
