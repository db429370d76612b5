-- attack: swallow the timeout through coroutine.wrap error propagation inside pcall
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do
  local f = coroutine.wrap(function() while true do coroutine.yield() end end)
  pcall(function() while true do f() end end)
end
print("escaped")
