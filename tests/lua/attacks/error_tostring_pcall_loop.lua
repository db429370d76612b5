-- attack: a __tostring that loops and catches its own budget error with pcall
-- wall: 10
-- expect: exit=1 stderr~__tostring failed
error(setmetatable({}, { __tostring = function()
  while true do pcall(function() while true do end end) end
end }))
