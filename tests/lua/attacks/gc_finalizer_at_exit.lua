-- attack: leave objects whose metatable gains __gc later, then exit (teardown finalizers)
-- expect: exit=0 stdout~^ok$
local mt = {}
_G.keep = setmetatable({}, mt)
mt.__gc = function() while true do end end
mt.__close = nil
print("ok")
os.exit(0)
