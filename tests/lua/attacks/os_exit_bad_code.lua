-- attack: os.exit with out-of-range or mistyped codes (256, -1, 1.5, "0", tables, NaN)
-- expect: exit=0 stdout~^ok$
for _, c in ipairs({ 256, -1, 1.5, "0", "3", {}, 0/0, math.huge, math.maxinteger, math.mininteger }) do
  local ok, err = pcall(os.exit, c)
  assert(not ok and tostring(err):find("bad argument"), tostring(c))
end
print("ok")
os.exit(true)
