-- attack: an infinite loop inside a coroutine
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
local co = coroutine.create(function() while true do end end)
print(coroutine.resume(co))
print("escaped")
