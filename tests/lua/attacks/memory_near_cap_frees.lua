-- attack: (robustness) run near the cap, free, and allocate again: a full GC must run before a refusal
-- options: --memory-limit 64M
-- expect: exit=0 stdout~^ok$
for round = 1, 6 do
  local t = {}
  for i = 1, 40 do
    local row = {}
    for j = 1, 16384 do row[j] = j end          -- 40 x 256 KiB of tables: about 40 MiB live
    t[i] = row
  end
  t = nil
end
print("ok")
