-- attack: string.rep to a size beyond the cap
-- options: --memory-limit 64M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local s = ("x"):rep(2 ^ 30)
print("escaped", #s)
