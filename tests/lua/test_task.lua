-- task (SPEC §3). Registered twice: plain, and with --timeout 30, arguments
-- and BQLUA_SHARD_INDEX/COUNT in the environment (EXPECT_* tell which).
local t = require "tap"
local want_shard = os.getenv("EXPECT_SHARD")        -- "index/count" or nil
local want_timeout = os.getenv("EXPECT_TIMEOUT") ~= nil

t.is(type(task.args), "table", "task.args is a table")
t.is(#task.args, select("#", ...), "task.args has the script's arguments")
for i = 1, #arg do t.is(task.args[i], arg[i], "task.args[" .. i .. "] is arg[" .. i .. "]") end
t.like(task.script, "test_task%.lua$", "task.script names the script")
t.is(arg[0], task.script, "arg[0] is the script")
if want_shard then
  local i, c = want_shard:match("(%d+)/(%d+)")
  t.is(task.shard.index, tonumber(i), "task.shard.index from BQLUA_SHARD_INDEX")
  t.is(task.shard.count, tonumber(c), "task.shard.count from the environment")
else
  t.is(task.shard.index, 0, "task.shard.index defaults to 0")
  t.is(task.shard.count, 1, "task.shard.count defaults to 1")
end
if os.getenv("EXPECT_ARGS") then
  t.is(task.args[1], "one", "first argument")
  t.is(task.args[2], "two words", "an argument with a space stays one")
end
t.is(math.type(task.shard.index), "integer", "shard index is an integer")
if want_timeout then
  local r = task.remaining()
  t.is(type(r), "number", "task.remaining() is a number with --timeout")
  t.ok(r > 0 and r <= 30, "and within the timeout")
  task.sleep(0.05)
  t.ok(task.remaining() < r, "and it goes down")
else
  t.is(task.remaining(), nil, "task.remaining() is nil without --timeout")
end
local t0 = os.clock()
local w0 = os.time()
task.sleep(0)
task.sleep(0.01)
t.ok(true, "task.sleep(0) and task.sleep(0.01) return")
t.errors_like(task.sleep, "bad argument", "task.sleep(-1) refused", -1)
t.errors_like(task.sleep, "bad argument", "task.sleep(NaN) refused", 0 / 0)
t.errors_like(task.sleep, "bad argument", "task.sleep(1e10) refused", 1e10)
t.errors_like(task.sleep, "bad argument", "task.sleep('x') refused", "x")
t.errors_like(task.sleep, "bad argument", "task.sleep() refused")
t.errors_like(function() task.shard.index = 3 end, "read%-only", "task.shard is read-only")
t.errors_like(function() task.args[1] = 3 end, "read%-only", "task.args is read-only")
return t.done()
