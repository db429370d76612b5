-- attack: grow a table of tables without bound
-- options: --memory-limit 64M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
local t = {}
local i = 0
while true do i = i + 1; t[i] = { i } end
print("escaped")
