-- attack: spin in a coroutine created after the timeout tripped (new threads must inherit the armed hook)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
pcall(task.sleep, 5)
local co = coroutine.create(function() while true do end end)
coroutine.resume(co)
print("escaped")
