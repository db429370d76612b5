-- attack: replace or wipe _G and every global, then check require, bindings and bundled modules still work
-- file: lib/helper.lua = return { twice = function(x) return x * 2 end }
-- expect: exit=0 stdout~^ok$
local req, P, pc, ass, G, smt, pairs_ = require, print, pcall, assert, _G, setmetatable, pairs
for k in pairs_(G) do G[k] = nil end
smt(G, { __index = function() error("poisoned") end, __newindex = function() error("poisoned") end })
_ENV = smt({}, { __index = function() return function() return "pwned" end end })
ass(req("json").encode({ 1, 2 }) == "[1,2]")
ass(req("string").format("%d", 3) == "3")
ass(req("bq.tsv").escape("a\tb") == "a\\\tb")
ass(req("lib.helper").twice(21) == 42)
ass(("x"):rep(3) == "xxx")
req("log").info("bindings unaffected")
P("ok")
