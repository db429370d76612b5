-- attack: string.format with huge widths/precisions, many directives and %q of big values
-- expect: exit=0 stdout~^ok$
assert(not pcall(string.format, "%99999d", 1))
assert(not pcall(string.format, "%.99999f", 1))
assert(not pcall(string.format, "%100d", 1))
assert(not pcall(string.format, "%-+ #0123d", 1))
assert(not pcall(string.format, ("%d"):rep(1000), 1))
assert(#string.format("%99.99f", 1e308) > 300)
assert(#string.format("%q", math.mininteger) > 0)
assert(not pcall(string.format, "%q", {}))
print("ok")
