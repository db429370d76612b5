-- attack: SIGTERM during a pattern blowup (no hook runs: the watchdog must end it)
-- signal: TERM after 0.5
-- wall: 10
-- expect: exit=143 stderr~signal 15
local s = ("a"):rep(40)
s:find(("a*"):rep(40) .. "b")
