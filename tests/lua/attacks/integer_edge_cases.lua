-- attack: integer overflow edges (for loops at maxinteger, // and % by -1 and 0, string->int)
-- expect: exit=0 stdout~^ok$
local n = 0
for i = math.maxinteger - 2, math.maxinteger do n = n + 1 end
assert(n == 3)
n = 0
for i = math.mininteger, math.mininteger + 2 do n = n + 1 end
assert(n == 3)
assert(math.mininteger // -1 == math.mininteger)
assert(math.mininteger % -1 == 0)
assert(not pcall(function() return 1 // 0 end))
assert(not pcall(function() return 1 % 0 end))
assert(math.tointeger("9223372036854775808") == nil)
assert(string.format("%d", -0) == "0")
print("ok")
