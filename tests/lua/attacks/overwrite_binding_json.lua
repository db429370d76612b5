-- attack: replace json.encode / json.decode by assignment, rawset or a metatable, then check bindings and bundled modules
-- expect: exit=0 stdout~^ok$
local evil = function() return "pwned" end
assert(not pcall(function() json.encode = evil end))
assert(not pcall(rawset, json, "encode", evil))
assert(not pcall(rawset, json, "decode", evil))
assert(not pcall(rawset, json, "null", 1))
assert(not pcall(setmetatable, json, {}))
assert(not pcall(function() log.info = evil end))
assert(not pcall(rawset, log, "info", evil))
assert(not pcall(rawset, task, "sleep", evil))
assert(json.encode({ a = 1 }) == '{"a":1}')
assert(json.decode("[1,2]")[2] == 2)
assert(require("bq.tsv").escape(nil) == "\\N")
log.info("still logging")
print("ok")
