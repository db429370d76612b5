-- attack: load a precompiled (binary) chunk from a string, in every mode
-- expect: exit=0 stdout~^ok$
local bin = "\27LuaT\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@\1\128\128\128\0\1\2\128\0"
for _, mode in ipairs({ false, "b", "bt", "tb", "t" }) do
  local f, err
  if mode then f, err = load(bin, "=bin", mode) else f, err = load(bin) end
  assert(f == nil, "binary chunk loaded with mode " .. tostring(mode))
  assert(tostring(err):find("binary"), err)
end
-- text that merely starts with ESC is refused the same way
assert(load("\27 return 1") == nil)
print("ok")
