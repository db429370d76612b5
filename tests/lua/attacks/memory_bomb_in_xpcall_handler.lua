-- attack: allocate without bound in an xpcall message handler
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
xpcall(error, function()
  local t = {}
  for i = 1, 1e9 do t[i] = ("h"):rep(64) .. i end
end)
print("escaped")
