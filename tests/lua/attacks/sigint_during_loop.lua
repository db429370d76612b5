-- attack: SIGINT while the script spins
-- signal: INT after 0.5
-- expect: exit=130 stderr~signal 2
while true do end
