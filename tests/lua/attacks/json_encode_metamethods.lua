-- attack: json.encode of tables with __index/__pairs/__len lies, bad keys and unencodable values
-- expect: exit=0 stdout~^ok$
local lie = setmetatable({}, { __pairs = function() error("called") end, __len = function() return 99 end,
                               __index = function() return "x" end })
assert(json.encode(lie) == "{}")
assert(not pcall(json.encode, { [1.5] = 1 }))
assert(not pcall(json.encode, { [true] = 1 }))
assert(not pcall(json.encode, { 1, 2, nil, 4 }))
assert(not pcall(json.encode, { 1, a = 2 }))
assert(not pcall(json.encode, print))
assert(not pcall(json.encode, 0/0))
assert(not pcall(json.encode, "\255"))
assert(json.encode(task.shard) == '{"count":1,"index":0}')
print("ok")
