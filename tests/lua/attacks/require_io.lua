-- attack: require the libraries that are not in the sandbox by name
-- expect: exit=0 stdout~^ok$
for _, m in ipairs({ "io", "debug", "package", "_G", "coroutine.running", "os.execute" }) do
  local ok, err = pcall(require, m)
  assert(not ok, m)
  assert(tostring(err):find("not found"), err)
end
-- the allowed ones come back as the very same read-only tables
assert(require("string") == string and require("os") == os and require("json") == json)
print("ok")
