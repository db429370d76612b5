-- attack: an infinite loop inside a load reader function (called from the parser)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do pcall(load, function() while true do end end) end
print("escaped")
