-- attack: an error object whose __tostring allocates without bound (runs while the host reports)
-- options: --memory-limit 32M --timeout 30
-- expect: exit=4 stderr~memory limit
error(setmetatable({}, { __tostring = function()
  local s = "x"
  while true do s = s .. s end
end }))
