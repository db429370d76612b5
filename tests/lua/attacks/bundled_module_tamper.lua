-- attack: require a bundled module (bq.tsv) and modify it, its functions' environment or the libraries it uses
-- expect: exit=0 stdout~^ok$
local tsv = require "bq.tsv"
assert(tsv == require "bq.tsv")
assert(not pcall(function() tsv.escape = function() return "pwned" end end))
assert(not pcall(rawset, tsv, "escape", print))
assert(not pcall(setmetatable, tsv, {}))
assert(getmetatable(tsv) == false)
string = nil
table = { concat = function() return "pwned" end }
assert(not pcall(rawset, require "string", "gsub", print))
assert(tsv.escape(nil) == "\\N")
assert(tsv.row({ "a", "b" }) == "a\tb\n")
for k, v in pairs(tsv) do assert(type(v) == "function", k) end
local retry = require "bq.retry"
assert(not pcall(function() retry.call = nil end))
assert(retry.call(function() return 5 end) == 5)
print("ok")
