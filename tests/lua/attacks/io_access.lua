-- attack: reach io (io.open, io.popen, io.lines) by any name
-- expect: exit=0 stdout~^ok$
assert(io == nil and rawget(_G, "io") == nil)
assert(not pcall(require, "io"))
assert(load("return io")() == nil)
assert(dofile == nil and loadfile == nil)
assert(os.remove == nil and os.rename == nil and os.tmpname == nil)
print("ok")
