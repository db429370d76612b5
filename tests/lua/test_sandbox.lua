-- The sandbox as SPEC §2 describes it, checked from inside.
local t = require "tap"

-- the exact global set
local expected = {}
for name in ([[assert error ipairs next pairs pcall xpcall select tonumber tostring type rawequal
  rawlen rawget rawset setmetatable getmetatable print load require collectgarbage
  string table math utf8 coroutine os log task json _G _VERSION arg]]):gmatch("%S+") do
  expected[name] = true
end
-- the SPEC's other bindings, present once they are built
local optional = { s3 = true, rds = true, db = true }
local extra, missing = {}, {}
for k in pairs(_G) do
  if not expected[k] and not optional[k] then extra[#extra + 1] = tostring(k) end
end
for k in pairs(expected) do if _G[k] == nil then missing[#missing + 1] = k end end
table.sort(extra); table.sort(missing)
t.is(table.concat(extra, " "), "", "no global beyond the SPEC's list")
t.is(table.concat(missing, " "), "", "every global of the SPEC's list is there")
for _, n in ipairs({ "io", "debug", "package", "dofile", "loadfile", "loadstring", "module",
                     "setfenv", "getfenv", "newproxy", "warn", "unpack" }) do
  t.is(_G[n], nil, "no global " .. n)
end
t.is(_VERSION, "Lua 5.4", "_VERSION")
t.ok(_G._G == _G, "_G is the globals table")

-- library contents
local function keys(tbl)
  local r = {}
  for k in pairs(tbl) do r[#r + 1] = k end
  table.sort(r)
  return table.concat(r, " ")
end
t.is(keys(os), "clock date difftime exit getenv time", "os has only time/clock/date/difftime/getenv/exit")
t.is(string.dump, nil, "string.dump absent")
t.is(("").dump, nil, "string.dump absent through string methods")
t.ok(string.format and string.rep and string.pack and string.gsub, "string has its other functions")
t.ok(table.concat and table.move and table.unpack and table.sort, "table is whole")
t.ok(math.floor and math.maxinteger and math.random and math.type, "math is whole")
t.ok(utf8.char and utf8.charpattern and utf8.codes, "utf8 is whole")
t.ok(coroutine.wrap and coroutine.close and coroutine.running, "coroutine is whole")
t.is(keys(log), "debug error info warn", "log functions")
t.is(keys(json), "decode encode null", "json functions")

-- load: text only, default env = globals, explicit env
local f = load("return 1 + 1")
t.is(f(), 2, "load compiles text")
t.ok(load("return _G")() == _G, "load's default environment is the script's globals")
local f2, err = load("\27LuaT\0\25\147\r\n\26\n")
t.is(f2, nil, "load refuses a binary chunk")
t.like(err, "binary", "with a message naming the binary chunk")
t.is(load("\27LuaT", "b", "b"), nil, "load refuses a binary chunk in mode 'b'")
local env = { y = 5 }
t.is(load("x = y * 2; return x", "chunk", "t", env)(), 10, "load with an explicit env")
t.is(env.x, 10, "globals of that chunk go to env")
t.is(rawget(_G, "x"), nil, "and not to the script's globals")
local pieces, i = { "return ", "'pie", "ces'" }, 0
t.is(load(function() i = i + 1; return pieces[i] end)(), "pieces", "load with a reader function")
local nf, nerr = load("x x", "=named")
t.is(nf, nil, "load reports a syntax error")
t.like(nerr, "^named:1:", "with the chunk name")
t.is(select("#", load("return 1", "n", "t", _G, "extra")), 1, "load returns one value whatever the extra arguments")

-- require: standard libraries and bindings return the very same values
for _, n in ipairs({ "string", "table", "math", "utf8", "coroutine", "os", "log", "task", "json" }) do
  t.ok(require(n) == _G[n], "require '" .. n .. "' is the global " .. n)
end
local ok = pcall(require, "io")
t.ok(not ok, "require 'io' fails")
t.errors_like(require, "not found", "require 'debug' fails as not found", "debug")

-- bundled modules
local tsv = require "bq.tsv"
t.is(type(tsv), "table", "require 'bq.tsv'")
t.ok(require "bq.tsv" == tsv, "bundled modules are cached")
t.is(type(require("bq.retry").call), "function", "require 'bq.retry'")
t.errors_like(function() tsv.escape = nil end, "read%-only", "a bundled module is read-only")

-- siblings
local util = require "lib.util"
t.is(util.double(21), 42, "require of a sibling module (lib/util.lua)")
t.ok(util.env_is_script_globals, "a sibling runs in the script's globals")
t.ok(require "lib.util" == util, "siblings are cached")
t.is(util_loads, 1, "and run once")
t.is(require "lib.returns_nothing", true, "a module that returns nothing gives true")
t.ok(returns_nothing_ran, "and ran")
t.errors_like(require, "loop", "a require cycle is an error", "lib.cycle_a")
t.errors_like(require, "broken%.lua:1:", "a sibling with a syntax error raises it", "lib.broken")
t.errors_like(require, "not found", "a missing sibling is not found", "lib.nope")
t.errors_like(require, "invalid module name", "path syntax is refused", "../lib/util")

-- collectgarbage
t.is(type(collectgarbage("count")), "number", "collectgarbage('count')")
t.is(collectgarbage("collect"), 0, "collectgarbage('collect')")
t.is(collectgarbage(), 0, "collectgarbage() collects")
t.ok(pcall(collectgarbage, "step"), "collectgarbage('step')")
for _, o in ipairs({ "stop", "restart", "incremental", "generational", "isrunning", "setpause", "setstepmul" }) do
  t.errors_like(collectgarbage, "not allowed", "collectgarbage('" .. o .. "') refused", o)
end

-- setmetatable
local obj = setmetatable({}, { __index = function(_, k) return k .. "!" end })
t.is(obj.hi, "hi!", "setmetatable without __gc works")
t.is(setmetatable({}, nil) ~= nil, true, "setmetatable(t, nil)")
t.errors_like(setmetatable, "__gc", "setmetatable refuses __gc", {}, { __gc = print })
local prot = setmetatable({}, { __metatable = "locked" })
t.is(getmetatable(prot), "locked", "__metatable is honoured by getmetatable")
t.errors_like(setmetatable, "protected", "and by setmetatable", prot, {})

-- read-only tables: refused writes, see-through reads
for name, lib in pairs({ string = string, os = os, json = json, task = task, shard = task.shard }) do
  t.errors_like(function() lib.zz = 1 end, "read%-only", name .. ": assignment refused")
  t.errors_like(rawset, "read%-only", name .. ": rawset refused", lib, "zz", 1)
  t.errors_like(setmetatable, "protected", name .. ": setmetatable refused", lib, {})
end
t.ok(rawget(string, "format") == string.format, "rawget sees through a read-only table")
t.is(rawget(string, "nope"), nil, "rawget of a missing key")
local k, v = next(math)
t.ok(k ~= nil and math[k] == v, "next sees through a read-only table")
local count = 0
for _ in pairs(table) do count = count + 1 end
t.ok(count >= 7, "pairs sees through a read-only table")
t.is(#task.args, 0, "# on a read-only array")
t.is(rawlen(task.args), 0, "rawlen on a read-only array")
t.is(rawlen("abc"), 3, "rawlen of a string")
local plain = {}
t.ok(rawset(plain, "a", 1) == plain and plain.a == 1, "rawset on the script's own tables")
t.is(rawget(plain, "a"), 1, "rawget on the script's own tables")

-- os.getenv of a plain variable works
t.ok(os.getenv("PATH") == nil or type(os.getenv("PATH")) == "string", "os.getenv of an ordinary variable")
t.is(os.getenv("AWS_SECRET_ACCESS_KEY"), nil, "os.getenv hides AWS_SECRET_ACCESS_KEY")

return t.done()
