-- attack: read the metatables of libraries, proxies, json.null and strings to reach the backing tables
-- expect: exit=0 stdout~^ok$
for _, v in ipairs({ string, table, math, utf8, coroutine, os, json, log, task, task.shard, task.args,
                     json.null, "", require "bq.tsv" }) do
  assert(getmetatable(v) == false)
end
print("ok")
