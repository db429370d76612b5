-- attack: the coroutine.close chain with deep gsub recursion at every level (C stack use per level)
-- wall: 20
-- expect: exit=0 stdout~^ok$
local function deep(n, fn)
  if n == 0 then return fn() end
  local r
  ("x"):gsub(".", function() r = deep(n - 1, fn) end)
  return r
end
local coro = false
for i = 1, 5000 do
  local previous = coro
  coro = coroutine.create(function()
    local cc <close> = setmetatable({}, { __close = function()
      if previous then deep(150, function() assert(coroutine.close(previous)) end) end
    end })
    coroutine.yield()
  end)
  assert(coroutine.resume(coro))
end
coroutine.close(coro)
print("ok")
