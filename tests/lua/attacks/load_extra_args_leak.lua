-- attack: call load with more than four arguments so a naive wrapper shifts its call and returns the real (binary-capable) load
-- expect: exit=0 stdout~^ok$
local bin = "\27LuaT\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@"
local r = table.pack(load("return 42", "n", "t", _G, "extra", 1, 2, 3))
assert(r.n == 1, "load returned " .. r.n .. " values")
assert(r[1]() == 42)
local r2 = table.pack(load(function() return nil end, nil, nil, nil, 0))
assert(r2.n == 1 and type(r2[1]) == "function")
-- whatever came back must not accept bytecode
for i = 1, r2.n do
  if type(r2[i]) == "function" then
    local ok, g = pcall(r2[i], bin)
    assert(not (ok and type(g) == "function"), "a returned function loads bytecode")
  end
end
assert(select("#", load("return 1", nil, nil)) == 1)
print("ok")
