-- attack: a chain of coroutines whose __close handlers close the previous one (C stack overflow in Lua 5.4.4)
-- wall: 20
-- expect: exit=0 stdout~^ok$
local coro = false
for i = 1, 100000 do
  local previous = coro
  coro = coroutine.create(function()
    local cc <close> = setmetatable({}, { __close = function()
      if previous then assert(coroutine.close(previous)) end
    end })
    coroutine.yield()
  end)
  assert(coroutine.resume(coro))
end
local ok = coroutine.close(coro)
assert(ok == false)          -- stopped with an error, no crash
print("ok")
