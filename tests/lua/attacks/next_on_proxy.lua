-- attack: use next / pairs / the pairs iterator on proxies to get at the backing table or write through it
-- expect: exit=0 stdout~^ok$
local k, v = next(string)
assert(type(k) == "string" and type(v) == "function")
assert(not pcall(next, string, "no-such-key"))
local iter, state = pairs(string)
assert(state == string)
assert(not pcall(iter, {}))         -- the proxy iterator refuses plain tables
local n = 0
for key, val in pairs(math) do n = n + 1; assert(math[key] == val) end
assert(n > 20)
-- nothing iteration hands out is a writable table behind a proxy
for key, val in pairs(task) do
  if type(val) == "table" then assert(not pcall(rawset, val, "x", 1), key) end
end
print("ok")
