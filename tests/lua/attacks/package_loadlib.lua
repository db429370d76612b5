-- attack: load a C library through package.loadlib, package.cpath, package.searchers or require of a C module
-- expect: exit=0 stdout~^ok$
assert(package == nil and rawget(_G, "package") == nil)
assert(not pcall(require, "package"))
for _, m in ipairs({ "lfs", "socket", "ffi", "posix", "socket.core", "luaopen_os" }) do
  assert(not pcall(require, m), m)
end
assert(load("return package")() == nil)
print("ok")
