-- attack: keep creating and resuming coroutines that spin, so no single thread is caught for long
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do
  local co = coroutine.create(function() for i = 1, 5000 do end while true do end end)
  coroutine.resume(co)
end
print("escaped")
