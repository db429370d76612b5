-- attack: utf8.char with huge argument lists and repeated appends
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
assert(not pcall(utf8.char, 0x80000000))
assert(not pcall(utf8.char, -1))
assert(not pcall(function() return utf8.char(table.unpack({}, 1, 1e8)) end))
local cps = {}
for i = 1, 200 do cps[i] = 0x10FFFF end
local parts = {}
while true do parts[#parts + 1] = utf8.char(table.unpack(cps)) end
print("escaped")
