-- A tiny assertion library for the db tests: each check prints one line,
-- "ok - NAME" or "not ok - NAME" plus "# diagnostics"; run_db.py numbers them.
local T = {}
local failed = 0

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

function T.ok(cond, name, diag)
  if cond then
    print("ok - " .. name)
  else
    failed = failed + 1
    print("not ok - " .. name)
    if diag then
      print("# " .. tostring(diag):gsub("\n", "\n# "))
    end
  end
  return cond
end

function T.eq(got, want, name)
  return T.ok(got == want and math.type(got) == math.type(want), name,
              "got " .. show(got) .. " (" .. (math.type(got) or type(got)) .. "), want "
              .. show(want) .. " (" .. (math.type(want) or type(want)) .. ")")
end

-- Calls fn and checks it raised; `check(err)` returns true when the error is the expected one.
function T.raises(fn, check, name)
  local ok, err = pcall(fn)
  if ok then
    return T.ok(false, name, "did not raise")
  end
  local good, why = check(err)
  return T.ok(good, name, why or ("raised: " .. tostring(err)))
end

function T.bad_argument(pattern)
  return function(err)
    return type(err) == "string" and err:find("bad argument", 1, true) ~= nil
      and (pattern == nil or err:find(pattern) ~= nil)
  end
end

function T.sql_error(code, status)
  return function(err)
    return type(err) == "table" and err.code == code and err.status == status
      and type(err.message) == "string" and type(err.retryable) == "boolean",
      type(err) == "table" and ("code=" .. tostring(err.code) .. " status=" .. tostring(err.status)
        .. " message=" .. tostring(err.message)) or tostring(err)
  end
end

-- Connection options for a password user from the server's env.
function T.opts(extra)
  local o = {
    host = os.getenv("MYSQL_HOST"),
    port = math.tointeger(tonumber(os.getenv("MYSQL_PORT"))),
    user = os.getenv("MYSQL_PW_USER"),
    password = os.getenv("MYSQL_PW_PASSWORD"),
    database = os.getenv("MYSQL_DATABASE"),
  }
  for k, v in pairs(extra or {}) do
    if v == false and k ~= "iam" and k ~= "ssl_verify" then
      o[k] = nil
    else
      o[k] = v
    end
  end
  return o
end

function T.done()
  print("# failed " .. failed)
  return failed == 0 and 0 or 1
end

return T
