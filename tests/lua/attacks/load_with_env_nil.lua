-- attack: load with an explicit nil or foreign environment to reach the host's globals
-- expect: exit=0 stdout~^ok$
local f = load("return print", "x", "t", nil)
assert(f, "load failed")
assert(not pcall(f), "a chunk with a nil _ENV reached globals")
local env = {}
local g = load("x = 1; return io, debug, package, require", "y", "t", env)
local a, b, c, d = g()
assert(a == nil and b == nil and c == nil and d == nil)
assert(env.x == 1 and rawget(_G, "x") == nil)
-- the default environment is the script's globals, nothing more
local h = load("return _G, io, debug, package, dofile, loadfile, string.dump")
local G, io_, dbg, pkg, df, lf, dump = h()
assert(G == _G and io_ == nil and dbg == nil and pkg == nil and df == nil and lf == nil and dump == nil)
print("ok")
