-- Runs conn:export for each case in $EXPORT_CASES (JSON: [{name=, sql=,
-- prefix=, opts=}]) and prints one JSON line per case:
-- {"name":..., "ok":true, "rows":, "bytes":, "parts":[...]} or
-- (a case with exec=true runs conn:exec(sql, params...) instead:
-- {"name":..., "ok":true, "affected":, "insert_id":}) or
-- {"name":..., "ok":false, "code":..., "message":...}.
local cases = json.decode(os.getenv("EXPORT_CASES"))
local conn <close> = db.connect{
  host = os.getenv("MYSQL_HOST"), port = math.tointeger(tonumber(os.getenv("MYSQL_PORT"))),
  user = os.getenv("MYSQL_PW_USER"), password = os.getenv("MYSQL_PW_PASSWORD"),
  database = os.getenv("MYSQL_DATABASE"),
}
for _, c in ipairs(cases) do
  local opts = c.opts
  if opts ~= nil and opts.params then
    -- JSON null stands for SQL NULL
    for i = 1, #opts.params do
      if opts.params[i] == json.null then opts.params[i] = db.null end
    end
  end
  local okk, res, id
  if c.exec then
    -- conn:exec(sql, params...): Aurora's INTO OUTFILE S3 clause in the SQL
    local params = c.params or {}
    for i = 1, #params do
      if params[i] == json.null then params[i] = db.null end
    end
    okk, res, id = pcall(conn.exec, conn, c.sql, table.unpack(params, 1, #params))
  else
    okk, res = pcall(conn.export, conn, c.sql, "s3://exports/" .. c.prefix, opts)
  end
  if okk and c.exec then
    print(json.encode{ name = c.name, ok = true, affected = res, insert_id = id })
  elseif okk then
    print(json.encode{ name = c.name, ok = true, rows = res.rows, bytes = res.bytes, parts = res.parts })
  else
    local code, msg = nil, tostring(res)
    if type(res) == "table" then code, msg = res.code, res.message end
    print(json.encode{ name = c.name, ok = false, code = code or json.null, message = msg })
  end
end
