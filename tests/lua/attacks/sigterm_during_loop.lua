-- attack: SIGTERM (how ECS stops a task) while the script spins
-- signal: TERM after 0.5
-- expect: exit=143 stderr~signal 15
while true do end
