-- attack: tostring / string.format / print / concat on proxies and binding values
-- expect: exit=0 stdout~^table: 
print(tostring(string))
assert(tostring(json.null) == "null")
assert(select(2, pcall(function() return string .. "x" end)) ~= nil)
assert(string.format("%s", task.shard):find("^table:"))
assert(not pcall(function() return string < string end))
