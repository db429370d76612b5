-- attack: one refused allocation caught by pcall, then carry on as if nothing happened
-- options: --memory-limit 16M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local ok = pcall(string.rep, "x", 1e9)
print("escaped", ok)
