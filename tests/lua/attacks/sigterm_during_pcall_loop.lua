-- attack: SIGTERM while the script swallows errors with pcall in a loop
-- signal: TERM after 0.5
-- expect: exit=143 stdout!~escaped
while true do pcall(function() while true do end end) end
print("escaped")
