-- attack: string.pack / unpack with absurd sizes, alignments and counts
-- expect: exit=0 stdout~^ok$
assert(not pcall(string.pack, "i17", 1))
assert(not pcall(string.pack, "!17i4", 1))
assert(not pcall(string.unpack, "c1000000000", "abc"))
assert(not pcall(string.unpack, "i4", "abc", 10))
assert(not pcall(string.unpack, "s4", "\255\255\255\127"))
assert(not pcall(string.pack, "c-1", ""))
assert(not pcall(string.packsize, "s"))
assert(string.unpack("<i8", string.pack("<i8", math.maxinteger)) == math.maxinteger)
print("ok")
