-- attack: repeated Lua stack overflows caught by pcall (the stack must recover every time)
-- expect: exit=0 stdout~^ok$
local function f() return 1 + f() end
for i = 1, 3 do
  local ok, err = pcall(f)
  assert(not ok and tostring(err):find("stack overflow"), err)
end
print("ok")
