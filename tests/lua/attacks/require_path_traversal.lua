-- attack: require a file outside the script's folder with path syntax in the module name
-- outside: secret.lua = return "escaped"
-- expect: exit=0 stdout~^ok$
for _, m in ipairs({ "../outside/secret", "..outside.secret", ".outside.secret", "outside..secret",
                     "/etc/passwd", "a/b", "a\\b", "", ".", "..", "x.", "~root", "a b", "%2e%2e" }) do
  local ok, r = pcall(require, m)
  assert(not ok, "required " .. m)
  assert(r ~= "escaped")
end
print("ok")
