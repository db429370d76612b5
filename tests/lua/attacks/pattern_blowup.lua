-- attack: exponential backtracking in a Lua pattern (a long C call no hook reaches)
-- options: --timeout 1
-- wall: 10
-- expect: exit=4 stderr~time limit stdout!~escaped
local s = ("a"):rep(40)
print(s:find(("a*"):rep(40) .. "b"))
print("escaped")
