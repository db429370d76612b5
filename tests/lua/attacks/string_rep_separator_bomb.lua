-- attack: string.rep with a large separator (size computed from both)
-- options: --memory-limit 64M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local s = ("x"):rep(1e6, ("y"):rep(1000))
print("escaped", #s)
