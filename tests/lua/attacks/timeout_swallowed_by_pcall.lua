-- attack: catch the timeout raised by task.sleep with pcall and keep going
-- options: --timeout 1
-- expect: exit=4 stderr~time limit stdout!~escaped
pcall(task.sleep, 30)
print("escaped")
