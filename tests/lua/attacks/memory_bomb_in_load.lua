-- attack: make the parser/compiler allocate beyond the cap (load of a huge chunk)
-- options: --memory-limit 32M
-- expect: exit=4 stderr~memory limit stdout!~escaped
local src = ("local a = {1,2,3,4,5,6,7,8,9,10} "):rep(1) .. ("a = a .. 'xxxxxxxxxxxxxxxx' "):rep(600000)
local f, err = load(src)
print("escaped", f, err)
