-- query / rows / exec / close / <close> / gc, db.query, placeholders, errors.
local T = require "testlib"
local c = db.connect(T.opts())
T.eq(tostring(c), "db connection (open)", "connect returns an open connection")

c:exec("DROP TABLE IF EXISTS t")
T.eq(select(2, c:exec("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))")), 0,
     "exec returns last_insert_id 0 without inserts")
local n, id = c:exec("INSERT INTO t (v) VALUES (?), (?), (?)", "a", "b", "c")
T.eq(n, 3, "exec returns affected_rows")
T.eq(id, 1, "exec returns last_insert_id (first of a multi-row insert)")
n, id = c:exec("INSERT INTO t (v) VALUES ('d')")
T.eq(n, 1, "exec without parameters: affected_rows")
T.eq(id, 4, "exec without parameters: last_insert_id")
T.eq(c:exec("UPDATE t SET v = CONCAT(v, '!') WHERE id > ?", 2), 2, "UPDATE affected_rows")

local rows = c:query("SELECT id, v FROM t ORDER BY id")
T.eq(#rows, 4, "query returns every row")
T.eq(rows[3].v, "c!", "rows are keyed by column name")
T.eq(rows.columns[1] .. "," .. rows.columns[2], "id,v", "rows.columns are the ordered names")
local empty = c:query("SELECT id FROM t WHERE id < 0")
T.eq(#empty, 0, "an empty result is an empty array")
T.eq(empty.columns[1], "id", "an empty result still has its columns")

-- rows(): streamed iteration, then the connection is free again.
local seen = {}
for row in c:rows("SELECT id FROM t WHERE id >= ? ORDER BY id", 2) do
  seen[#seen + 1] = row.id
end
T.eq(table.concat(seen, ","), "2,3,4", "rows iterates every row")
T.eq(#c:query("SELECT 1 AS x"), 1, "the connection is usable after a finished loop")
for row in c:rows("SELECT id FROM t ORDER BY id") do
  if row.id == 2 then break end
end
T.eq(c:query("SELECT 7 AS x")[1].x, 7, "break from a rows loop closes the result (connection usable)")
for _ in c:rows("SELECT id FROM t WHERE id = ?", 1) do break end
T.eq(c:query("SELECT 8 AS x")[1].x, 8, "break from a prepared rows loop closes the result")
local ran = false
for _ in c:rows("DO 1") do ran = true end
T.ok(not ran, "rows over a statement without a result set is an empty loop")

-- An iterator held open (not in a for loop) makes the connection busy.
local it, state, init, closing = c:rows("SELECT id FROM t ORDER BY id")
T.eq(it(state, init).id, 1, "the iterator can be called by hand")
T.raises(function() c:query("SELECT 1") end, T.bad_argument("busy"),
         "a query while a rows iterator is open raises 'connection is busy'")
T.eq(it(state).id, 2, "the open iterator still works after the refused query")
do local k <close> = closing end
T.eq(c:query("SELECT 9 AS x")[1].x, 9, "closing the iterator frees the connection")
T.raises(function() it(state) end, T.bad_argument("result was closed"), "a closed iterator raises")

-- An iterator that fails mid-way raises (never ends early).
local got = 0
T.raises(function()
  for _ in c:rows("SELECT IF(seq = 3, (SELECT 1 UNION SELECT 2), seq) AS x FROM seq_1_to_5") do got = got + 1 end
end, T.sql_error("21000", 1242), "an iterator failing mid-stream raises the SQL error (text)")
T.eq(got, 2, "the failing iterator delivered the rows before the error")
T.raises(function()
  for _ in c:rows("SELECT IF(seq = 3, (SELECT 1 UNION SELECT ?), seq) AS x FROM seq_1_to_5", 2) do end
end, T.sql_error("21000", 1242), "an iterator failing mid-stream raises the SQL error (prepared)")
T.eq(c:query("SELECT 10 AS x")[1].x, 10, "the connection is usable after a failed iterator")

-- Placeholders: bound, never pasted.
local evil = "'; DROP TABLE t; --"
c:exec("INSERT INTO t (v) VALUES (?)", evil)
T.eq(c:query("SELECT v FROM t WHERE v = ?", evil)[1].v, evil, "an injection attempt stays data")
T.eq(#c:query("SELECT id FROM t"), 5, "the table survived the injection attempt")
T.eq(c:query("SELECT '?' AS q")[1].q, "?", "a '?' inside a string literal is not a placeholder")
T.raises(function() c:query("SELECT ? AS a, ? AS b", 1) end,
         T.bad_argument("2 placeholders but 1 parameter"), "too few parameters: bad argument naming counts")
T.raises(function() c:query("SELECT ? AS a", 1, 2) end,
         T.bad_argument("1 placeholder but 2 parameters"), "too many parameters: bad argument naming counts")
T.raises(function() c:query("SELECT 1", 1) end,
         T.bad_argument("0 placeholders but 1 parameter"), "a parameter without a placeholder: bad argument")
T.raises(function() c:query("SELECT ?", {}) end, T.bad_argument("parameter 1"), "a table parameter is refused")
T.ok(c:query("SELECT ? AS n", nil)[1].n == db.null, "nil parameter is NULL")

-- Structured SQL errors.
T.raises(function() c:query("SELEC 1") end, T.sql_error("42000", 1064), "syntax error: code 42000, status 1064")
T.raises(function() c:exec("SELEC ?", 1) end, T.sql_error("42000", 1064), "syntax error (prepared): 42000/1064")
T.raises(function() c:query("SELECT * FROM no_such_table") end, T.sql_error("42S02", 1146), "missing table: 42S02/1146")
T.raises(function() c:exec("INSERT INTO t (id, v) VALUES (1, 'dup')") end, T.sql_error("23000", 1062),
         "duplicate key: 23000/1062")
local ok, e = pcall(c.query, c, "SELEC 1")
T.ok(not ok and e.retryable == false and tostring(e):find("^42000: You have an error") ~= nil,
     "SQL error: not retryable, __tostring is 'code: message'", tostring(e))
T.raises(function() c:exec("SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'deadlock'") end,
         function(err) return type(err) == "table" and err.status == 1213 and err.retryable == true end,
         "a deadlock (1213) is retryable")
T.raises(function() c:exec("SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1205, MESSAGE_TEXT = 'lock wait'") end,
         function(err) return type(err) == "table" and err.status == 1205 and err.retryable == true end,
         "a lock wait timeout (1205) is retryable")
T.raises(function() c:query() end, T.bad_argument(), "query without SQL: bad argument")

-- close, idempotent; use after close.
c:close()
c:close()
T.eq(tostring(c), "db connection (closed)", "close is idempotent")
for _, m in ipairs({ "query", "rows", "exec" }) do
  T.raises(function() c[m](c, "SELECT 1") end, T.bad_argument("connection is closed"), m .. " after close raises")
end

-- A connection closed while its iterator is open: the iterator raises.
local c2 = db.connect(T.opts())
local it2, st2 = c2:rows("SELECT seq FROM seq_1_to_100000")
T.eq(it2(st2).seq, 1, "iterator on a second connection")
c2:close()
T.raises(function() it2(st2) end, T.bad_argument("connection is closed"), "iterating after close raises")

-- <close> and garbage collection.
local before
do
  local c3 <close> = db.connect(T.opts())
  before = c3
  T.eq(c3:query("SELECT 1 AS x")[1].x, 1, "a <close> connection works in its scope")
end
T.eq(tostring(before), "db connection (closed)", "<close> closes the connection at scope end")
local id3 = db.connect(T.opts()):query("SELECT CONNECTION_ID() AS id")[1].id
collectgarbage("collect")
collectgarbage("collect")
local c4 = db.connect(T.opts())
local left
for _ = 1, 50 do
  left = #c4:query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?", id3)
  if left == 0 then break end
  task.sleep(0.05)
end
T.eq(left, 0, "garbage collection closes a dropped connection (server sees it go)")
-- A connection dropped with a half-read result is closed by gc too.
do
  local c5 = db.connect(T.opts())
  local it5, st5 = c5:rows("SELECT seq FROM seq_1_to_1000000")
  it5(st5)
end
collectgarbage("collect")
T.eq(c4:query("SELECT 11 AS x")[1].x, 11, "gc of a connection with an open result")

-- db.query: connect, query, close.
local r = db.query(T.opts(), "SELECT ? AS a, CONNECTION_ID() AS id", "x")
T.eq(r[1].a, "x", "db.query returns the rows")
T.eq(r.columns[2], "id", "db.query rows have columns")
T.raises(function() db.query(T.opts(), "SELEC 1") end, T.sql_error("42000", 1064), "db.query raises SQL errors")
local alive
for _ = 1, 50 do
  alive = #c4:query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?", r[1].id)
  if alive == 0 then break end
  task.sleep(0.05)
end
T.eq(alive, 0, "db.query closed its connection")

-- Misuse of connect.
T.raises(function() db.connect(T.opts({ nope = 1 })) end, T.bad_argument("unknown option 'nope'"), "unknown option")
T.raises(function() db.connect(T.opts({ host = false })) end, T.bad_argument("'host' is required"), "host is required")
T.raises(function() db.connect(T.opts({ port = 70000 })) end, T.bad_argument("port"), "port out of range")
T.raises(function() db.connect(T.opts({ port = "x" })) end, T.bad_argument("port"), "port must be an integer")
T.raises(function() db.connect(T.opts({ iam = "yes" })) end, T.bad_argument("boolean"), "iam must be a boolean")
T.raises(function() db.connect(T.opts({ connect_timeout = 0 })) end, T.bad_argument("connect_timeout"),
         "connect_timeout must be positive")
T.raises(function() db.connect(T.opts({ iam = true, ssl_verify = false, region = "us-east-1" })) end,
         T.bad_argument("ssl_verify=false"), "iam=true with ssl_verify=false is a usage error")
T.raises(function() db.connect("x") end, T.bad_argument(), "connect with a string: bad argument")

c4:exec("DROP TABLE t")
c4:close()
return T.done()
