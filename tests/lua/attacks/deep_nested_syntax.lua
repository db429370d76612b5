-- attack: deeply nested source (parentheses, tables, functions, concatenations) for the parser's C recursion
-- expect: exit=0 stdout~^ok$
local n = 100000
for _, src in ipairs({
  "return " .. ("("):rep(n) .. "1" .. (")"):rep(n),
  "return " .. ("{"):rep(n) .. ("}"):rep(n),
  ("function f() "):rep(n) .. ("end "):rep(n),
  "return " .. ("a .. "):rep(n) .. "a",
  "return " .. ("not "):rep(n) .. "1",
  ("do "):rep(n) .. ("end "):rep(n),
}) do
  local f, err = load(src)
  assert(f == nil and (err:find("overflow") or err:find("too many") or err:find("levels")), err)
end
print("ok")
