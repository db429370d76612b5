-- log (SPEC §3): the functions, formatting and argument errors. The line
-- format itself is checked from outside by run_log.py.
local t = require "tap"
for _, n in ipairs({ "debug", "info", "warn", "error" }) do
  t.is(type(log[n]), "function", "log." .. n .. " exists")
  t.ok(pcall(log[n], "plain message from " .. n), "log." .. n .. "(msg)")
  t.ok(pcall(log[n], "%s=%d", "n", 5), "log." .. n .. "(fmt, ...)")
end
t.ok(pcall(log.info, 42), "a single non-string value is converted")
t.ok(pcall(log.info, setmetatable({}, { __tostring = function() return "obj" end })), "__tostring is used")
t.errors_like(log.info, "bad argument", "no arguments refused")
t.errors_like(log.info, "bad argument", "a bad format argument refused", "%d", "x")
t.errors_like(log.info, "no value", "a missing format argument refused", "%s %s", "x")
t.errors_like(log.info, "invalid conversion", "an invalid conversion refused", "%y", 1)
t.errors_like(log.info, "bad argument", "a non-string format with arguments refused", {}, 1)
t.ok(pcall(log.info, ("x"):rep(100000)), "a long message is fine")
t.ok(pcall(log.info, "line1\nline2\0\255"), "control bytes and invalid UTF-8 are fine")
return t.done()
