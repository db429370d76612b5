-- attack: run a command or touch files through os (execute, remove, rename, tmpname, setlocale)
-- expect: exit=0 stdout~^ok$
local allowed = { time = true, clock = true, date = true, difftime = true, getenv = true, exit = true }
for _, n in ipairs({ "execute", "remove", "rename", "tmpname", "setlocale" }) do
  assert(os[n] == nil, n)
  assert(rawget(os, n) == nil, n)
end
local count = 0
for k in pairs(os) do assert(allowed[k], k); count = count + 1 end
assert(count == 6)
assert(require("os") == os)
assert(not pcall(function() os.execute = print end))
print("ok")
