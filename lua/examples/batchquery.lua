-- batchquery: the classic Fargate batch task, in Lua.
--
-- Connects to Aurora MySQL with an RDS IAM token over verified TLS (no
-- password anywhere), runs SELECT * FROM table1 and writes the result to S3 in
-- the format of Aurora's SELECT ... INTO OUTFILE S3: tab-separated text in
-- PREFIX.part_00000 (NULL as \N, backslash escapes). Existing parts are
-- replaced (OVERWRITE ON).
--
-- Run it as the container does:  bqlua batchquery-s3 script/batchquery.lua
-- Configuration comes from the environment:
--   DB_HOST, DB_PORT (3306), DB_USER, DB_NAME (db01), DB_REGION (AWS_REGION),
--   DB_SSL_CA (the RDS CA bundle), TABLE (table1),
--   OUTPUT_PREFIX (s3://batchquery-s3/output/result)
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error("set " .. name, 0) end
    return default
  end
  return v
end

local cfg = {
  host = env("DB_HOST"),
  port = math.tointeger(tonumber(env("DB_PORT", "3306"))),
  user = env("DB_USER"),
  database = env("DB_NAME", "db01"),
  region = env("DB_REGION", os.getenv("AWS_REGION") or ""),
  ssl_ca = env("DB_SSL_CA", "/etc/ssl/certs/rds-global-bundle.pem"),
  table = env("TABLE", "table1"),
  output = env("OUTPUT_PREFIX", "s3://batchquery-s3/output/result"),
}
assert(cfg.port, "DB_PORT must be an integer")
-- The table name goes into SQL text: only a plain identifier is accepted.
assert(cfg.table:match("^[%w_]+$"), "TABLE must be a plain table name")

local conn <close> = db.connect{
  host = cfg.host, port = cfg.port, user = cfg.user, database = cfg.database,
  region = cfg.region ~= "" and cfg.region or nil,
  iam = true, ssl_ca = cfg.ssl_ca,
}
log.info("connected to %s:%d as %s", cfg.host, cfg.port, cfg.user)

-- Rows are read, formatted (MySQL's INTO OUTFILE text format) and uploaded in
-- C: result.part_00000, result.part_00001, ... as Aurora's INTO OUTFILE S3.
local started = os.time()
local res = conn:export("SELECT * FROM `" .. cfg.table .. "`", cfg.output, { overwrite = true })
log.info("wrote %d rows (%d bytes) to %s in %d s", res.rows, res.bytes,
         table.concat(res.parts, ", "), os.time() - started)
