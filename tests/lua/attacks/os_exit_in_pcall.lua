-- attack: catch os.exit with pcall and keep running (print after the exit)
-- expect: exit=7 stdout!~escaped
pcall(os.exit, 7)
print("escaped")
