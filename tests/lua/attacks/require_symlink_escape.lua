-- attack: a symbolic link beside the script (file or folder) pointing outside its folder
-- outside: evil.lua = return "escaped"
-- outside: pkg/mod.lua = return "escaped"
-- symlink: evil.lua -> {outside}/evil.lua
-- symlink: lib -> {outside}/pkg
-- symlink: passwd.lua -> /etc/passwd
-- expect: exit=0 stdout~^ok$
for _, m in ipairs({ "evil", "lib.mod", "passwd" }) do
  local ok, err = pcall(require, m)
  assert(not ok, m .. " was loaded")
  assert(tostring(err):find("outside"), err)
end
print("ok")
