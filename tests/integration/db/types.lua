-- Every MySQL column type, a row of NULLs, extremes; text protocol (no
-- parameters) and binary protocol (prepared, with a parameter) must agree.
local T = require "testlib"
local c <close> = db.connect(T.opts())

c:exec("DROP TABLE IF EXISTS alltypes")
c:exec([[CREATE TABLE alltypes (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED, bo BOOLEAN,
  d65 DECIMAL(65,30), d10 DECIMAL(10,2),
  f FLOAT, db DOUBLE, f72 FLOAT(7,2),
  b8 BIT(8), b64 BIT(64),
  dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL,
  tm TIME, tm2 TIME(2), yr YEAR,
  ch CHAR(5), vc VARCHAR(50), bn BINARY(4), vb VARBINARY(10),
  tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  en ENUM('a','b'), st SET('x','y'), js JSON, ip INET6, uu UUID, pt POINT
) CHARSET utf8mb4]])

c:exec([[INSERT INTO alltypes VALUES (1,
  -5, 250, -300, 70000, -2000000000, 4000000000,
  -9000000000000000000, 18446744073709551615, TRUE,
  '12345678901234567890123456789012345.123456789012345678901234567891', 12345678.91,
  1.1, 0.1, 3.14159,
  b'10100101', b'1111111111111111111111111111111111111111111111111111111111111111',
  '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.120',
  '-838:59:59', '100:00:00.5', 2024,
  'ab', 'héllo ✓ 😀', 'ab', 'x',
  'tiny', 'blob', 'medium', 'long',
  'tt', 'text ✓', 'mt', 'lt',
  'b', 'x,y', '{"k": [1, 2]}', '::1', '123e4567-e89b-12d3-a456-426614174000', POINT(1, 2))]])
c:exec("INSERT INTO alltypes (id) VALUES (2)")
c:exec([[INSERT INTO alltypes (id, ti, bi, biu, d65, f, db, tm, dtm6, yr, b8) VALUES (3,
  -128, -9223372036854775808, 9223372036854775807,
  '-99999999999999999999999999999999999.999999999999999999999999999999',
  -3.4e38, 1.7976931348623157e308, '00:00:00', '1000-01-01 00:00:00.000001', 1901, b'0')]])
-- Binary-safe parameters: NUL and 0xFF survive the round trip.
local blob = "a\0b\255\0"
c:exec("UPDATE alltypes SET lb = ?, vb = ? WHERE id = ?", blob, "\0\255", 3)

local columns = c:query("SELECT * FROM alltypes WHERE id = 1").columns
T.eq(#columns, 42, "columns lists every column")
T.eq(columns[1], "id", "columns are ordered (first)")
T.eq(columns[#columns], "pt", "columns are ordered (last)")

local text = c:query("SELECT * FROM alltypes ORDER BY id")
local bin = c:query("SELECT * FROM alltypes WHERE id > ? ORDER BY id", 0)
T.eq(#text, 3, "three rows (text protocol)")
T.eq(#bin, 3, "three rows (binary protocol)")

local want1 = {
  ti = -5, tiu = 250, si = -300, mi = 70000, i = -2000000000, iu = 4000000000,
  bi = -9000000000000000000, biu = "18446744073709551615", bo = 1,
  d65 = "12345678901234567890123456789012345.123456789012345678901234567891",
  d10 = "12345678.91", f = 1.1, db = 0.1, f72 = 3.14,
  b8 = "\xA5", b64 = string.rep("\xFF", 8),
  dt = "2024-02-29", dtm = "2024-02-29 23:59:59", dtm6 = "2024-02-29 23:59:59.123456",
  ts = "2024-02-29 23:59:59.120", tm = "-838:59:59", tm2 = "100:00:00.50", yr = 2024,
  ch = "ab", vc = "héllo ✓ 😀", bn = "ab\0\0", vb = "x",
  tb = "tiny", bl = "blob", mb = "medium", lb = "long",
  tt = "tt", tx = "text ✓", mt = "mt", lt = "lt",
  en = "b", st = "x,y", js = '{"k": [1, 2]}', ip = "::1", uu = "123e4567-e89b-12d3-a456-426614174000",
}
local want3 = {
  ti = -128, bi = math.mininteger, biu = math.maxinteger,
  d65 = "-99999999999999999999999999999999999.999999999999999999999999999999",
  f = -3.4e38, db = 1.7976931348623157e308, tm = "00:00:00", dtm6 = "1000-01-01 00:00:00.000001",
  yr = 1901, b8 = "\0", lb = blob, vb = "\0\255",
}

for _, proto in ipairs({ { "text", text }, { "binary", bin } }) do
  local name, rows = proto[1], proto[2]
  for k, v in pairs(want1) do
    T.eq(rows[1][k], v, name .. ": " .. k)
  end
  T.eq(type(rows[1].pt), "string", name .. ": POINT is a binary string")
  for _, col in ipairs(columns) do
    if col ~= "id" then
      T.ok(rows[2][col] == db.null, name .. ": NULL in " .. col .. " is db.null")
    end
  end
  for k, v in pairs(want3) do
    T.eq(rows[3][k], v, name .. ": extreme " .. k)
  end
end

-- Both protocols give the same values and types for every cell.
local same, diff = true, nil
for r = 1, 3 do
  for _, col in ipairs(columns) do
    local a, b = text[r][col], bin[r][col]
    if a ~= b or math.type(a) ~= math.type(b) then
      same, diff = false, string.format("row %d %s: %q vs %q", r, col, tostring(a), tostring(b))
    end
  end
end
T.ok(same, "text and binary protocols agree on every cell", diff)

-- Expressions too (no table): fractions as the server prints them.
local q = "SELECT CAST('2024-01-02 03:04:05.5' AS DATETIME(2)) AS a, TIME'-01:02:03.25' AS b, "
  .. "CAST(1.5 AS DECIMAL(5,3)) AS c, 1e0/3 AS d, NULL AS n, 18446744073709551615 AS u, -1 AS neg"
local t, b = c:query(q)[1], c:query(q .. " FROM DUAL WHERE ? = 1", 1)[1]
for k, v in pairs({ a = "2024-01-02 03:04:05.50", b = "-01:02:03.25", c = "1.500", d = 1 / 3,
                    u = "18446744073709551615", neg = -1 }) do
  T.eq(t[k], v, "expression (text): " .. k)
  T.eq(b[k], v, "expression (binary): " .. k)
end
T.ok(t.n == db.null and b.n == db.null, "SELECT NULL is db.null in both protocols")
T.ok(db.null == json.null, "db.null is json.null")

-- UTF-8 and binary strings as parameters come back unchanged.
local s = "naïve ✓ 😀 \u{10FFFF}"
T.eq(c:query("SELECT ? AS s", s)[1].s, s, "UTF-8 parameter round trip")
T.eq(c:query("SELECT CAST(? AS BINARY) AS s", "\0\1\255")[1].s, "\0\1\255", "binary parameter round trip")
T.eq(c:query("SELECT ? AS i", math.maxinteger)[1].i, math.maxinteger, "integer parameter")
T.eq(c:query("SELECT ? AS f", 0.5)[1].f, 0.5, "float parameter")
T.eq(c:query("SELECT ? AS t, ? AS f", true, false)[1].t, 1, "boolean parameters are 1/0")
T.ok(c:query("SELECT ? AS n", db.null)[1].n == db.null, "db.null parameter is NULL")
T.eq(c:query("SELECT ? IS NULL AS n", db.null)[1].n, 1, "db.null parameter IS NULL on the server")

c:exec("DROP TABLE alltypes")
return T.done()
