-- attack: an infinite loop in an xpcall message handler (handlers re-enter on their own errors)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do
  xpcall(error, function() while true do end end)
end
print("escaped")
