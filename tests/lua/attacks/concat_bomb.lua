-- attack: doubling a string by concatenation
-- options: --memory-limit 64M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local s = "x"
while true do s = s .. s end
print("escaped")
