-- attack: pcall the loop inside a loop, catching the timeout error each time
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do
  pcall(function() while true do end end)
  pcall(error, "x")
end
print("escaped")
