-- attack: exhaust memory inside a coroutine, catching the error at resume
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
for round = 1, 100 do
  local co = coroutine.create(function()
    local t = {}
    for i = 1, 1e9 do t[i] = { i } end
  end)
  local ok = coroutine.resume(co)
  local w = coroutine.wrap(function() local s = ("x"):rep(1e9) end)
  pcall(w)
end
print("escaped")
