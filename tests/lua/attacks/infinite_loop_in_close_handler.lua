-- attack: an infinite loop in a <close> metamethod, also while unwinding an error
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
while true do
  pcall(function()
    local x <close> = setmetatable({}, { __close = function() while true do end end })
    error("unwind")
  end)
end
print("escaped")
