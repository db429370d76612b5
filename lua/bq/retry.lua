-- bq.retry: call a function again when it fails, with exponential backoff
-- and full jitter (sleep a random time in [0, min(max, base * 2^(n-1))]),
-- through task.sleep so a timeout or SIGTERM still ends the wait at once.
--
--   retry.call(fn, {attempts=3, base=0.1, max=20, retryable=function(err) ... end}, ...)
--
-- Extra arguments go to fn; fn's results are returned. An error whose table
-- says retryable=false (the bindings' structured errors) is not retried, nor
-- one the `retryable` function turns down; after the last attempt the last
-- error is raised again as it was.
local M = {}

local random, min, mtype = math.random, math.min, math.type
local pack, unpack = table.pack, table.unpack
local format = string.format

local known = { attempts = true, base = true, max = true, retryable = true }

local function default_retryable(err)
  return not (type(err) == "table" and err.retryable == false)
end

local function number_opt(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    error(format("bad argument #2 to 'call' (option '%s' must be a finite number >= 0)", name), 3)
  end
  return v
end

function M.call(fn, opts, ...)
  if type(fn) ~= "function" then
    error(format("bad argument #1 to 'call' (function expected, got %s)", type(fn)), 2)
  end
  opts = opts == nil and {} or opts
  if type(opts) ~= "table" then
    error(format("bad argument #2 to 'call' (table expected, got %s)", type(opts)), 2)
  end
  for k in pairs(opts) do
    if not known[k] then
      error(format("bad argument #2 to 'call' (unknown option '%s')", tostring(k)), 2)
    end
  end
  local attempts = opts.attempts == nil and 3 or opts.attempts
  if mtype(attempts) ~= "integer" or attempts < 1 then
    error("bad argument #2 to 'call' (option 'attempts' must be an integer >= 1)", 2)
  end
  local base = number_opt(opts, "base", 0.1)
  local max = number_opt(opts, "max", 20)
  local retryable = opts.retryable == nil and default_retryable or opts.retryable
  if type(retryable) ~= "function" then
    error("bad argument #2 to 'call' (option 'retryable' must be a function)", 2)
  end

  local err
  for n = 1, attempts do
    local r = pack(pcall(fn, ...))
    if r[1] then
      return unpack(r, 2, r.n)
    end
    err = r[2]
    if n == attempts or not retryable(err) then
      break
    end
    local cap = min(max, base * 2 ^ (n - 1))
    task.sleep(cap * random())
  end
  error(err, 0)
end

return M
