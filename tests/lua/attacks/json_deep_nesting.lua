-- attack: deeply nested and cyclic values for json.encode / json.decode (C recursion)
-- expect: exit=0 stdout~^ok$
local t = {}
local cur = t
for i = 1, 100000 do cur[1] = {}; cur = cur[1] end
assert(not pcall(json.encode, t))
local cyc = {}; cyc.self = cyc
assert(not pcall(json.encode, cyc))
assert(not pcall(json.decode, ("["):rep(100000) .. ("]"):rep(100000)))
assert(not pcall(json.decode, ('{"a":'):rep(100000) .. "1" .. ("}"):rep(100000)))
print("ok")
