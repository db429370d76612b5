-- attack: table.unpack / select / string.byte over huge ranges (C stack and Lua stack limits)
-- expect: exit=0 stdout~^ok$
assert(not pcall(table.unpack, {}, 1, 1e8))
assert(not pcall(table.unpack, {}, math.mininteger, math.maxinteger))
assert(not pcall(string.byte, ("x"):rep(1e7), 1, -1))
assert(not pcall(function() return string.char(table.unpack({}, 1, 1e7)) end))
print("ok")
