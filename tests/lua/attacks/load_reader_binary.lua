-- attack: a load reader function that returns a binary chunk ("\27Lua...") piece by piece
-- expect: exit=0 stdout~^ok$
local pieces = { "\27", "Lua", "T\0\25\147\r\n\26\n", "\4\8\8xV\0\0" }
for _, mode in ipairs({ "b", "bt", "t" }) do
  local i = 0
  local f, err = load(function() i = i + 1; return pieces[i] end, "=reader", mode)
  assert(f == nil and err:find("binary"), err)
end
local i = 0
local f, err = load(function() i = i + 1; return pieces[i] end)
assert(f == nil and err:find("binary"), err)
print("ok")
