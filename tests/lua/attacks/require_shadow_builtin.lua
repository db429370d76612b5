-- attack: files beside the script named like libraries, bindings and bundled modules to shadow them
-- file: string.lua = return "fake"
-- file: json.lua = return "fake"
-- file: bq/tsv.lua = return "fake"
-- file: os.lua = return "fake"
-- expect: exit=0 stdout~^ok$
assert(require("string") == string)
assert(require("json") == json)
assert(require("os") == os)
local tsv = require("bq.tsv")
assert(tsv ~= "fake" and type(tsv) == "table")
print("ok")
