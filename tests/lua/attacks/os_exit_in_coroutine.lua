-- attack: os.exit inside a coroutine, caught at resume and by pcall around wrap
-- expect: exit=9 stdout!~escaped
local co = coroutine.create(function() os.exit(9) end)
coroutine.resume(co)
print("escaped")
pcall(coroutine.wrap(function() os.exit(8) end))
print("escaped")
