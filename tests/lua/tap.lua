-- tap: a tiny TAP producer for tests run by bqlua itself.
--   local t = require "tap"
--   t.plan(3)  (optional)   t.ok(v, name)   t.is(got, want, name)
--   t.like(str, pattern, name)   t.errors_like(fn, pattern, name)   t.done()
--   t.todo(reason) marks the next test as a known bug (TAP TODO)
-- done() prints the plan if none was given and returns the exit status
-- (return t.done() at the end of a test script).
local M = {}
local n, failed, planned, todo = 0, 0, nil, nil

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function M.plan(k)
  planned = k
  print("1.." .. k)
end

function M.ok(v, name)
  n = n + 1
  local directive = todo and (" # TODO " .. todo) or ""
  print(string.format("%s %d - %s%s", v and "ok" or "not ok", n, name or "", directive))
  if not v and not todo then failed = failed + 1 end
  todo = nil
  return v and true or false
end

-- The next test is a known bug (TAP TODO): it is reported, not counted.
function M.todo(reason)
  todo = reason
end

function M.diag(msg)
  for line in (tostring(msg) .. "\n"):gmatch("([^\n]*)\n") do print("# " .. line) end
end

function M.is(got, want, name)
  local same = got == want or (got ~= got and want ~= want)
  if math.type(got) ~= math.type(want) and type(got) == "number" and type(want) == "number" then
    same = false
  end
  if not M.ok(same, name) then
    M.diag("     got: " .. describe(got) .. " (" .. (math.type(got) or type(got)) .. ")")
    M.diag("expected: " .. describe(want) .. " (" .. (math.type(want) or type(want)) .. ")")
  end
  return same
end

function M.like(s, pattern, name)
  local good = type(s) == "string" and s:find(pattern) ~= nil
  if not M.ok(good, name) then
    M.diag("     got: " .. describe(s))
    M.diag("expected to match: " .. pattern)
  end
  return good
end

function M.errors_like(fn, pattern, name, ...)
  local ok, err = pcall(fn, ...)
  if ok then
    M.ok(false, name)
    M.diag("expected an error matching " .. pattern .. ", got none")
    return false
  end
  return M.like(tostring(err), pattern, name)
end

function M.done()
  if planned == nil then
    print("1.." .. n)
  elseif planned ~= n then
    M.diag(string.format("planned %d tests but ran %d", planned, n))
    failed = failed + 1
  end
  return failed == 0 and 0 or 1
end

return M
