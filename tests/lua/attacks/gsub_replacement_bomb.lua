-- attack: gsub every byte of a string with a large replacement
-- options: --memory-limit 64M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local s = ("x"):rep(1e6):gsub(".", ("y"):rep(1e4))
print("escaped", #s)
