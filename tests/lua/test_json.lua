-- json.encode / json.decode (SPEC §3).
local t = require "tap"
local enc, dec = json.encode, json.decode

local function roundtrip(v) return dec(enc(v)) end

-- round trips
t.is(enc({}), "{}", "empty table encodes as an object")
t.is(enc({ 1, 2, 3 }), "[1,2,3]", "array")
t.is(enc({ b = 1, a = 2, c = { z = 1, y = 2 } }), '{"a":2,"b":1,"c":{"y":2,"z":1}}', "objects have sorted keys")
t.is(enc("x"), '"x"', "a top-level string")
t.is(enc(true), "true", "a top-level boolean")
t.is(enc(nil), "null", "nil encodes as null")
t.is(enc(json.null), "null", "json.null encodes as null")
t.is(enc({ json.null, 1 }), "[null,1]", "json.null inside an array")
t.is(dec('[null]')[1], json.null, "null decodes as json.null")
t.is(dec("[1,2,3]")[3], 3, "array decodes")
local nested = dec('{"a":{"b":[1,{"c":"d"}]}}')
t.is(nested.a.b[2].c, "d", "nested decode")
t.is(enc(dec('{"a":{"b":[1,{"c":"d"}]}}')), '{"a":{"b":[1,{"c":"d"}]}}', "nested round trip")

-- integers exact, floats
t.is(roundtrip({ math.maxinteger })[1], math.maxinteger, "math.maxinteger round trips exactly")
t.is(roundtrip({ math.mininteger })[1], math.mininteger, "math.mininteger round trips exactly")
t.is(dec("[9007199254740993]")[1], 9007199254740993, "2^53+1 stays an exact integer")
t.is(math.type(dec("[1]")[1]), "integer", "1 decodes as an integer")
t.is(math.type(dec("[1.0]")[1]), "float", "1.0 decodes as a float")
t.is(roundtrip({ 0.1 })[1], 0.1, "0.1 round trips")
t.is(roundtrip({ 1.5e300 })[1], 1.5e300, "1.5e300 round trips")
t.is(roundtrip({ -2.5 })[1], -2.5, "-2.5 round trips")
t.is(math.type(roundtrip({ 2.0 })[1]), "float", "2.0 stays a float")
t.is(dec("[18446744073709551615]")[1], 18446744073709551615.0, "beyond int64 becomes a float")
-- beyond json-c's 64-bit integers: floats, as Lua reads such numerals, never clamped
t.is(math.type(dec("[-9223372036854775809]")[1]), "float", "below math.mininteger becomes a float")
t.is(dec("[-9223372036854775809]")[1], -9223372036854775809.0, "... with the numeral's value")
t.is(dec("[99999999999999999999]")[1], 1e20, "beyond 2^64 becomes the float it names (not 2^64-1)")
t.is(dec("[-99999999999999999999999, 2]")[1], -1e23, "a long negative one too")
t.is(dec("[-9223372036854775808]")[1], math.mininteger, "math.mininteger itself stays an integer")
t.is(dec('["-99999999999999999999"]')[1], "-99999999999999999999", "strings are left alone")
t.is(dec('{"k\\"99999999999999999999": 1}')['k"99999999999999999999'], 1, "... keys with quotes too")
t.errors_like(dec, "number expected at byte 23", "error positions count the script's bytes",
              "[-99999999999999999999x]")
t.errors_like(enc, "cannot encode", "NaN refused by encode", 0 / 0)
t.errors_like(enc, "cannot encode", "inf refused by encode", math.huge)

-- strings
t.is(dec(enc("a\0b")), "a\0b", "a string with NUL round trips")
t.is(enc("a\0b"), '"a\\u0000b"', "NUL is escaped")
t.is(dec(enc("héllo ✓ 𝄞")), "héllo ✓ 𝄞", "UTF-8 round trips")
t.is(dec('["\\u00e9\\ud834\\udd1e"]')[1], "é𝄞", "\\u escapes and surrogate pairs")
t.is(enc('q"b\\s/\n\t'), '"q\\"b\\\\s/\\n\\t"', "escapes in encode")
t.errors_like(enc, "UTF%-8", "invalid UTF-8 refused", "\255")
t.errors_like(enc, "UTF%-8", "an overlong encoding refused", "\192\128")
t.errors_like(enc, "UTF%-8", "a surrogate in UTF-8 refused", "\237\160\128")
t.errors_like(enc, "UTF%-8", "invalid UTF-8 in a key refused", { ["\255"] = 1 })
t.errors_like(dec, "", "invalid UTF-8 in input refused", '["\255"]')

-- tables that are not JSON
t.errors_like(enc, "sparse", "a sparse array refused", { 1, nil, 3 })
t.errors_like(enc, "mixes", "mixed keys refused", { 1, a = 2 })
t.errors_like(enc, "keys", "float keys refused", { [1.5] = 1 })
t.errors_like(enc, "keys", "boolean keys refused", { [true] = 1 })
t.errors_like(enc, "keys", "zero and negative index refused", { [0] = 1 })
local cyc = {}; cyc[1] = cyc
t.errors_like(enc, "deeper", "a cycle refused", cyc)
t.errors_like(enc, "cannot encode", "functions refused", print)
local deep = {}
local cur = deep
for _ = 1, 2000 do cur[1] = {}; cur = cur[1] end
t.errors_like(enc, "deeper", "encode depth limit", deep)
t.errors_like(dec, "", "decode depth limit", ("["):rep(2000) .. ("]"):rep(2000))
t.ok(pcall(dec, ("["):rep(500) .. ("]"):rep(500)), "500 levels decode")
t.is(enc(task.shard), '{"count":1,"index":0}', "a read-only binding table encodes")

-- strict decoding
t.errors_like(dec, "byte 5", "trailing garbage refused", "[1] x")
t.ok(pcall(dec, "[1] \n\t"), "trailing whitespace is fine")
t.errors_like(dec, "", "single quotes refused", "['a']")
t.errors_like(dec, "", "comments refused", "[1 /* c */]")
t.errors_like(dec, "", "line comments refused", "[1] // c")
t.ok(not pcall(dec, "[NaN]"), "NaN refused")
t.ok(not pcall(dec, "[Infinity]"), "Infinity refused")
t.errors_like(dec, "end of input", "unterminated array", "[1,2")
t.errors_like(dec, "end of input", "unterminated string", '["abc')
t.errors_like(dec, "", "trailing comma refused", "[1,]")
t.errors_like(dec, "", "leading zero refused", "[01]")
t.errors_like(dec, "", "empty input refused", "")
t.errors_like(dec, "bad argument", "non-string input refused", {})
t.ok(pcall(dec, "1") and pcall(dec, "null"), "top-level scalars decode")
t.is(dec(" 42 "), 42, "a top-level integer with spaces")
t.is(dec('"x"'), "x", "a top-level string")
t.is(enc(0.1), "0.1", "floats use the shortest text that round-trips")
t.is(enc(3.0), "3.0", "an integral float stays a float")
t.errors_like(dec, "memory limit", "a document whose tree would not fit under the cap is refused",
              "[" .. string.rep("0,", 12 * 1024 * 1024) .. "0]")

return t.done()
