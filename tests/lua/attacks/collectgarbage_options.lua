-- attack: collectgarbage options beyond count/collect/step (stop, generational, setpause, ...)
-- expect: exit=0 stdout~^ok$
for _, opt in ipairs({ "stop", "restart", "incremental", "generational", "isrunning", "setpause",
                       "setstepmul", "bogus", "", 1 }) do
  local ok, err = pcall(collectgarbage, opt)
  assert(not ok, "collectgarbage(" .. tostring(opt) .. ") allowed")
  assert(tostring(err):find("not allowed"), err)
end
assert(type(collectgarbage("count")) == "number")
assert(collectgarbage("collect") == 0)
assert(collectgarbage() == 0)
collectgarbage("step", 10)
print("ok")
