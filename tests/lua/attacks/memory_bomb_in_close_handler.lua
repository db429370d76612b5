-- attack: allocate without bound in a <close> handler
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
do
  local x <close> = setmetatable({}, { __close = function()
    local t = {}
    for i = 1, 1e9 do t[i] = ("c"):rep(64) .. i end
  end })
end
print("escaped")
