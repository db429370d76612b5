-- attack: os.date/os.time with invalid conversions, huge fields and huge formats
-- expect: exit=0 stdout~^ok$
assert(not pcall(os.date, "%Ez"))
assert(not pcall(os.date, "%"))
assert(not pcall(os.date, "%Q"))
assert(not pcall(os.time, { year = 2 ^ 62, month = 1, day = 1 }))
assert(not pcall(os.time, { year = 2000 }))
assert(not pcall(os.date, "*t", 2 ^ 62))
assert(#os.date("!%c", 0) > 0)
print("ok")
