-- attack: patterns that recurse deeply in the matcher or are malformed
-- expect: exit=0 stdout~^ok$
local ok, err = pcall(string.match, ("a"):rep(500), ("a?"):rep(500) .. ("a"):rep(500))
assert(not ok and err:find("too complex"), err)
for _, p in ipairs({ "%", "[a", "(", "%b", "%f", "%1", "(()", "[%" }) do
  assert(not pcall(string.find, "abc", p), p)
end
print("ok")
