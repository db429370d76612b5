-- attack: reach the debug library (globals, require, load, string methods)
-- expect: exit=0 stdout~^ok$
assert(debug == nil and rawget(_G, "debug") == nil)
assert(not pcall(require, "debug"))
assert(load("return debug")() == nil)
assert(("").debug == nil)
for _, lib in ipairs({ string, table, math, utf8, coroutine, os }) do
  for k, v in pairs(lib) do assert(k ~= "debug" and k ~= "sethook" and k ~= "getupvalue") end
end
print("ok")
