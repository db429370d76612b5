-- attack: os.exit from a <close> handler while an error unwinds through pcall
-- expect: exit=6 stdout!~escaped
pcall(function()
  local x <close> = setmetatable({}, { __close = function() os.exit(6) end })
  error("unwind")
end)
print("escaped")
