-- attack: an infinite loop in a string.gsub callback (Lua called from a C function)
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do pcall(string.gsub, "abc", ".", function() while true do end end) end
print("escaped")
