-- attack: an infinite loop in a sibling module's main chunk, required under pcall
-- file: spin.lua = while true do end
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do pcall(require, "spin") end
print("escaped")
