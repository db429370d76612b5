-- attack: an infinite loop in an __index / __eq / __lt metamethod called from the VM and from C (table.sort)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
local mt = { __index = function() while true do end end, __lt = function() while true do end end }
local t = setmetatable({}, mt)
pcall(function() return t.x end)
local arr = { setmetatable({}, mt), setmetatable({}, mt), setmetatable({}, mt) }
while true do pcall(table.sort, arr) end
print("escaped")
