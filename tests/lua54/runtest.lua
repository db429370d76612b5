-- bqlua prelude (not part of the Lua test suite): runs one test file of
-- Lua 5.4's suite inside the sandbox, as `bqlua runtest.lua NAME` for
-- testes/NAME.lua. (The files sit in testes/, as upstream, so that their
-- module names, "testes.math" etc., cannot collide with the standard
-- libraries that require answers by name: "math", "string", "utf8".)
-- The suite's usual control globals (see its all.lua):
_soft = true     -- skip the longest and most memory-hungry tests
_port = false    -- Linux/glibc/x86-64 and aarch64: keep the "non-portable" tests
_nomsg = false   -- print the suite's "tests not performed" messages
local name = assert(arg and arg[1], "usage: bqlua runtest.lua TESTNAME")
require("testes." .. name)   -- runs in the script's globals, like a main chunk
-- (nothing is returned: a chunk's result is bqlua's exit status)
