-- bq.tsv: MySQL `SELECT ... INTO OUTFILE` text-format helpers (the format of
-- Aurora's INTO OUTFILE S3), plus RFC 4180 CSV fields.
--
-- Text format, MySQL's defaults (FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
-- LINES TERMINATED BY '\n'): NULL is written \N; the escape character, the
-- field terminator (TAB) and the line terminator (LF) are written with a
-- backslash in front of them; NUL is written as \0 (a backslash and the
-- character "0").
local M = {}

local null = json.null
local mtype, tointeger = math.type, math.tointeger
local format, gsub, concat = string.format, string.gsub, table.concat

local function is_null(v)
  return v == nil or v == null
end

-- Floats as the shortest text that reads back as the same number.
local function number_text(v)
  if mtype(v) == "integer" then
    return format("%d", v)
  end
  if v ~= v or v == math.huge or v == -math.huge then
    error("bq.tsv: cannot write " .. tostring(v), 3)
  end
  local i = tointeger(v)
  if i and v >= -2 ^ 53 and v <= 2 ^ 53 then
    return format("%d", i)
  end
  for prec = 15, 17 do
    local s = format("%." .. prec .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

local function text(v, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return number_text(v) end
  if t == "boolean" then return v and "1" or "0" end
  error(format("bq.tsv.%s: cannot write a %s value", what, t), 3)
end

local escapes = { ["\\"] = "\\\\", ["\t"] = "\\\t", ["\n"] = "\\\n", ["\0"] = "\\0" }

--- tsv.escape(v) -> one field of the text format (nil / null -> \N)
function M.escape(v)
  if is_null(v) then return "\\N" end
  return (gsub(text(v, "escape"), "[\\\t\n%z]", escapes))
end

local function fields(t, n, what, fn)
  if type(t) ~= "table" then
    error(format("bad argument #1 to '%s' (table expected, got %s)", what, type(t)), 3)
  end
  if n == nil then n = t.n or #t end
  if mtype(n) ~= "integer" or n < 0 then
    error(format("bad argument #2 to '%s' (a count of fields expected)", what), 3)
  end
  local out = {}
  for i = 1, n do out[i] = fn(t[i]) end
  return out
end

--- tsv.row(t [, n]) -> fields 1..n (default t.n or #t) escaped, TAB-joined, LF-terminated
function M.row(t, n)
  return concat(fields(t, n, "row", M.escape), "\t") .. "\n"
end

--- tsv.csv_field(v) -> one RFC 4180 field: NULL is empty and unquoted, "" is quoted,
--- a field with a quote, comma, CR or LF is quoted with quotes doubled
function M.csv_field(v)
  if is_null(v) then return "" end
  local s = text(v, "csv_field")
  if s == "" then return '""' end
  if s:find('[",\r\n]') then
    return '"' .. gsub(s, '"', '""') .. '"'
  end
  return s
end

--- tsv.csv_row(t [, n]) -> fields joined with commas, CRLF-terminated (RFC 4180)
function M.csv_row(t, n)
  return concat(fields(t, n, "csv_row", M.csv_field), ",") .. "\r\n"
end

return M
