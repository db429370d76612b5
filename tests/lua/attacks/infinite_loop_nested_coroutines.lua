-- attack: loops in coroutines created by coroutines (the hook must reach every thread)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
local function nest(n)
  if n == 0 then while true do end end
  local co = coroutine.wrap(function() return nest(n - 1) end)
  return pcall(co)
end
while true do nest(20) end
print("escaped")
