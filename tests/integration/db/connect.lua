-- Connection failures, TLS verification and the IAM login (TLS server).
-- Env from run_db.py: HANG_PORT (accepts TCP, never speaks), CLOSED_PORT.
local T = require "testlib"
local e = os.getenv

T.raises(function() db.connect(T.opts({ password = "wrong" })) end, T.sql_error("28000", 1045),
         "wrong password: 28000 / 1045")
local ok, err = pcall(db.connect, T.opts({ password = "wrong" }))
T.ok(not ok and not tostring(err.message):find(e("MYSQL_PW_PASSWORD"), 1, true), "the error does not carry the password")

T.raises(function() db.connect(T.opts({ port = math.tointeger(tonumber(e("CLOSED_PORT"))) })) end,
         function(x) return type(x) == "table" and (x.status == 2002 or x.status == 2003), tostring(x.status) .. " " .. tostring(x.message) end,
         "a closed port: can't connect (2002/2003)")
ok, err = pcall(db.connect, T.opts({ port = math.tointeger(tonumber(e("CLOSED_PORT"))) }))
T.ok(not ok and err.retryable == true, "a refused connection is retryable")

local wall0 = os.time()
ok, err = pcall(db.connect, T.opts({ port = math.tointeger(tonumber(e("HANG_PORT"))), connect_timeout = 1 }))
local waited = os.time() - wall0
T.ok(not ok and type(err) == "table" and err.message:find("timed out after 1 s", 1, true) ~= nil,
     "a server that never speaks: connect_timeout=1 fails with 'timed out'", tostring(err and err.message))
T.ok(waited <= 3, "a server that never speaks: fails within the timeout (" .. waited .. " s)")
ok, err = pcall(db.connect, T.opts({ port = math.tointeger(tonumber(e("HANG_PORT"))), connect_timeout = 1,
                                    ssl_ca = e("MYSQL_CA") }))
T.ok(not ok and type(err) == "table" and err.message:find("timed out", 1, true) ~= nil,
     "a server that never speaks, with TLS required: times out too")

-- TLS: the right CA verifies; the wrong CA (same subject, other key) is refused.
local c = db.connect(T.opts({ user = e("MYSQL_TLS_USER"), password = e("MYSQL_TLS_PASSWORD"), ssl_ca = e("MYSQL_CA") }))
local cipher = c:query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1].Value
T.ok(cipher ~= "", "ssl_ca: the session is encrypted (" .. cipher .. ")")
c:close()
ok, err = pcall(db.connect, T.opts({ user = e("MYSQL_TLS_USER"), password = e("MYSQL_TLS_PASSWORD"), ssl_ca = e("MYSQL_WRONG_CA") }))
T.ok(not ok and type(err) == "table" and err.message:find("TLS/SSL error", 1, true) ~= nil,
     "the wrong CA is refused", tostring(err and err.message))
ok, err = pcall(db.connect, T.opts({ user = e("MYSQL_TLS_USER"), password = e("MYSQL_TLS_PASSWORD"), ssl_verify = true }))
T.ok(not ok and type(err) == "table" and err.message:find("TLS/SSL error", 1, true) ~= nil,
     "ssl_verify=true without ssl_ca: the system store does not know the test CA", tostring(err and err.message))
T.raises(function() db.connect(T.opts({ ssl_ca = e("MYSQL_CA"), ssl_verify = false })) end,
         T.bad_argument("ssl_verify=false"), "ssl_verify=false with ssl_ca is a usage error")
-- A REQUIRE SSL user without TLS is refused by the server (the client sent no TLS).
T.raises(function() db.connect(T.opts({ user = e("MYSQL_TLS_USER"), password = e("MYSQL_TLS_PASSWORD") })) end,
         T.sql_error("28000", 1045), "a REQUIRE SSL user over plain TCP is refused")

-- IAM end to end (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are the test keys).
local iam = { host = e("MYSQL_HOST"), port = math.tointeger(tonumber(e("MYSQL_PORT"))), user = e("MYSQL_IAM_USER"),
              iam = true, ssl_ca = e("MYSQL_CA"), region = e("MYSQL_IAM_REGION"), database = e("MYSQL_DATABASE") }
ok, c = pcall(db.connect, iam)
T.ok(ok, "iam=true logs in with a token", not ok and tostring(c) or nil)
if ok then
  T.eq(c:query("SELECT CURRENT_USER() AS u")[1].u, "bq_iam@%", "IAM login: CURRENT_USER()")
  T.ok(c:query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1].Value ~= "", "IAM login is over TLS")
  c:close()
end
local r = db.query(iam, "SELECT CURRENT_USER() AS u")
T.eq(r[1].u, "bq_iam@%", "db.query with iam=true")
local bad = {}
for k, v in pairs(iam) do bad[k] = v end
bad.region = "eu-west-1"
T.raises(function() db.connect(bad) end, T.sql_error("28000", 1045), "a token for another region is refused by the server")
return T.done()
