-- attack: yield across pcall in a loop so the error lands in a different frame each time
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
local co = coroutine.wrap(function()
  while true do
    pcall(function() while true do coroutine.yield(1) end end)
  end
end)
while true do pcall(co) end
print("escaped")
