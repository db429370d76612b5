-- sharded_export: one table exported by N tasks at once, each its own slice.
--
-- Shard i of N exports the rows WHERE MOD(id, N) = i to its own prefix,
-- OUTPUT_PREFIX.shard_0000i (parts OUTPUT_PREFIX.shard_0000i.part_00000, ...,
-- in Aurora's INTO OUTFILE S3 text format). Together the shards hold every
-- row exactly once. The shard comes from task.shard: BQLUA_SHARD_INDEX and
-- BQLUA_SHARD_COUNT (scripts/run-task.sh --count N sets them per Fargate
-- task), or AWS_BATCH_JOB_ARRAY_INDEX/_SIZE in an AWS Batch array job.
--
--   scripts/run-task.sh --count 8 --wait lua/examples/sharded_export.lua s3://BUCKET/scripts/
--
-- Configuration from the environment:
--   DB_HOST, DB_PORT (3306), DB_USER, DB_NAME (db01), DB_REGION (AWS_REGION),
--   DB_PASSWORD (unset: an RDS IAM token over verified TLS, the default),
--   DB_SSL_CA (the RDS CA bundle; with DB_PASSWORD, unset means no TLS),
--   TABLE (table1), ID_COLUMN (id: an integer column spread evenly),
--   OUTPUT_PREFIX (s3://batchquery-s3/output/result)
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error("set " .. name, 0) end
    return default
  end
  return v
end

local password = os.getenv("DB_PASSWORD")
local cfg = {
  host = env("DB_HOST"),
  port = math.tointeger(tonumber(env("DB_PORT", "3306"))),
  user = env("DB_USER"),
  database = env("DB_NAME", "db01"),
  region = env("DB_REGION", os.getenv("AWS_REGION") or ""),
  ssl_ca = os.getenv("DB_SSL_CA") or (not password and "/etc/ssl/certs/rds-global-bundle.pem" or nil),
  table = env("TABLE", "table1"),
  id = env("ID_COLUMN", "id"),
  output = env("OUTPUT_PREFIX", "s3://batchquery-s3/output/result"),
}
assert(cfg.port, "DB_PORT must be an integer")
-- Names go into SQL text: only plain identifiers are accepted.
assert(cfg.table:match("^[%w_]+$"), "TABLE must be a plain table name")
assert(cfg.id:match("^[%w_]+$"), "ID_COLUMN must be a plain column name")

local shard = task.shard
local prefix = string.format("%s.shard_%05d", cfg.output, shard.index)
log.info("shard %d of %d (task %s): %s -> %s", shard.index, shard.count, task.id or "local",
         cfg.table, prefix)

local conn <close> = db.connect{
  host = cfg.host, port = cfg.port, user = cfg.user, database = cfg.database,
  region = cfg.region ~= "" and cfg.region or nil,
  password = password, iam = password == nil, ssl_ca = cfg.ssl_ca,
}

local started = os.time()
-- The shard numbers are bound, not pasted; the names were checked above.
local res = conn:export(string.format("SELECT * FROM `%s` WHERE MOD(`%s`, ?) = ? ORDER BY `%s`",
                                      cfg.table, cfg.id, cfg.id),
                        prefix, { overwrite = true, params = { shard.count, shard.index } })
log.info("shard %d of %d: wrote %d rows (%d bytes) in %d part(s) in %d s", shard.index, shard.count,
         res.rows, res.bytes, #res.parts, os.time() - started)
