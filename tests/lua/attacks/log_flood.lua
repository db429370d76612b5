-- attack: flood the log with huge and multi-line messages (lines must stay bounded and single)
-- stderr-max: 200000
-- expect: exit=0 stdout~^ok$ stderr!~\nFORGED
for i = 1, 10 do log.info(("x"):rep(1e6)) end
log.warn("line\nFORGED line")
log.error("%s", "a\r\nFORGED")
print("ok")
