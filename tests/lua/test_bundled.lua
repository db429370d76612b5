-- The bundled modules bq.tsv and bq.retry.
local t = require "tap"
local tsv = require "bq.tsv"
local retry = require "bq.retry"

-- tsv.escape: MySQL INTO OUTFILE text format
t.is(tsv.escape(nil), "\\N", "nil is \\N")
t.is(tsv.escape(json.null), "\\N", "json.null is \\N")
t.is(tsv.escape("plain"), "plain", "plain text unchanged")
t.is(tsv.escape(""), "", "empty string stays empty (not NULL)")
t.is(tsv.escape("a\\b"), "a\\\\b", "backslash doubled")
t.is(tsv.escape("a\tb"), "a\\\tb", "TAB gets a backslash before it")
t.is(tsv.escape("a\nb"), "a\\\nb", "LF gets a backslash before it")
t.is(tsv.escape("a\0b"), "a\\0b", "NUL is written \\0")
t.is(tsv.escape("\\N"), "\\\\N", "a literal \\N string is not NULL")
t.is(tsv.escape("a\rb"), "a\rb", "CR is not special")
t.is(tsv.escape(42), "42", "integer")
t.is(tsv.escape(-7), "-7", "negative integer")
t.is(tsv.escape(1.5), "1.5", "float")
t.is(tsv.escape(0.1), "0.1", "float in its shortest form")
t.is(tsv.escape(3.0), "3", "integral float")
t.is(tsv.escape(true), "1", "true is 1")
t.is(tsv.escape(false), "0", "false is 0")
t.errors_like(tsv.escape, "cannot write", "a table refused", {})
t.errors_like(tsv.escape, "cannot write", "NaN refused", 0 / 0)

-- tsv.row
t.is(tsv.row({ "a", "b\tc", nil, 3 }, 4), "a\tb\\\tc\t\\N\t3\n", "row with a hole given n")
t.is(tsv.row({ "x", "y" }), "x\ty\n", "row without n")
t.is(tsv.row(table.pack("x", nil)), "x\t\\N\n", "row honours t.n")
t.is(tsv.row({}, 0), "\n", "empty row")
t.errors_like(tsv.row, "bad argument #1", "row needs a table", "x")
t.errors_like(tsv.row, "bad argument #2", "row needs an integer n", {}, -1)

-- tsv.csv_field: RFC 4180
t.is(tsv.csv_field(nil), "", "NULL is an empty unquoted field")
t.is(tsv.csv_field(json.null), "", "json.null too")
t.is(tsv.csv_field(""), '""', "an empty string is quoted")
t.is(tsv.csv_field("abc"), "abc", "plain")
t.is(tsv.csv_field('a"b'), '"a""b"', "quotes doubled and quoted")
t.is(tsv.csv_field("a,b"), '"a,b"', "comma quoted")
t.is(tsv.csv_field("a\nb"), '"a\nb"', "LF quoted")
t.is(tsv.csv_field("a\rb"), '"a\rb"', "CR quoted")
t.is(tsv.csv_field(12), "12", "number")
t.is(tsv.csv_row({ "a", nil, "" }, 3), 'a,,""\r\n', "csv_row")

-- retry.call
local calls = 0
t.is(retry.call(function(a, b) calls = calls + 1; return a + b end, nil, 2, 3), 5, "passes arguments and returns results")
t.is(calls, 1, "one call on success")
calls = 0
local v = retry.call(function()
  calls = calls + 1
  if calls < 3 then error("transient") end
  return "done"
end, { attempts = 3, base = 0.001, max = 0.01 })
t.is(v, "done", "succeeds on the third attempt")
t.is(calls, 3, "after three calls")
calls = 0
local ok, err = pcall(retry.call, function() calls = calls + 1; error({ code = "X", n = calls }) end,
                      { attempts = 4, base = 0.001 })
t.ok(not ok and type(err) == "table" and err.code == "X", "re-raises the last error unchanged")
t.is(err.n, 4, "the last one")
t.is(calls, 4, "attempts are honoured")
calls = 0
ok, err = pcall(retry.call, function() calls = calls + 1; error({ retryable = false }) end, { attempts = 5, base = 0.001 })
t.is(calls, 1, "retryable=false errors are not retried")
calls = 0
ok, err = pcall(retry.call, function() calls = calls + 1; error("fatal: no") end,
                { attempts = 5, base = 0.001, retryable = function(e) return not tostring(e):find("fatal") end })
t.is(calls, 1, "the retryable function decides")
t.like(err, "fatal: no", "and the error comes back")
ok, err = pcall(retry.call, function() error("s", 0) end, { attempts = 1 })
t.is(err, "s", "attempts=1 calls once and re-raises")
local t0 = os.time()
calls = 0
local start = os.clock()
pcall(retry.call, function() calls = calls + 1; error("x") end, { attempts = 3, base = 0, max = 0 })
t.is(calls, 3, "base=0 retries without waiting")
t.errors_like(retry.call, "function expected", "fn must be a function", 5)
t.errors_like(retry.call, "unknown option", "unknown options refused", print, { tries = 2 })
t.errors_like(retry.call, "attempts", "attempts must be >= 1", print, { attempts = 0 })
t.errors_like(retry.call, "base", "base must be a number", print, { base = "x" })
t.errors_like(retry.call, "retryable", "retryable must be a function", print, { retryable = 1 })
return t.done()
