-- attack: os.exit from an xpcall message handler
-- expect: exit=5 stdout!~escaped
xpcall(error, function() os.exit(5) end)
print("escaped")
