-- attack: SIGTERM during task.sleep (a C wait), caught by pcall
-- signal: TERM after 0.5
-- wall: 5
-- expect: exit=143 stdout!~escaped
pcall(task.sleep, 60)
print("escaped")
