-- a sibling module fixture for test_sandbox.lua (require "lib.util")
local M = { loads = (_G.util_loads or 0) + 1 }
_G.util_loads = M.loads
function M.double(x) return x * 2 end
M.env_is_script_globals = (print == _G.print) and (_G.task ~= nil)
return M
