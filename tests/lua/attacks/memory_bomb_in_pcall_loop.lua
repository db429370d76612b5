-- attack: catch memory errors with pcall in a loop and keep allocating
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit stdout!~escaped
local keep = {}
while true do
  local ok = pcall(function()
    local t = {}
    for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end
  end)
  keep[#keep + 1] = ok
end
print("escaped")
