-- attack: make the parser fail with a runtime error (C stack overflow) at top level, so load returns the host's traceback wrapper; then add __gc to its metatable
-- wall: 10
-- expect: exit=0 stdout~^ok$
local f, err = load("return " .. ("("):rep(1000))
assert(f == nil)
assert(type(err) == "string", "load returned a " .. type(err) .. " error")
assert(err:find("overflow") or err:find("levels"), err)
local f2, err2 = load(("do "):rep(1000))
assert(f2 == nil and type(err2) == "string")
-- and through require of a sibling
print("ok")
