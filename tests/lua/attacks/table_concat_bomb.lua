-- attack: table.concat of many references to one big string (small table, huge result)
-- options: --memory-limit 64M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local big = ("z"):rep(1024 * 1024)
local t = {}
for i = 1, 1000 do t[i] = big end
local s = table.concat(t)
print("escaped", #s)
