-- attack: quadratic-or-worse matching in gsub over a large subject, under pcall
-- options: --timeout 1
-- wall: 10
-- expect: exit=4 stderr~time limit stdout!~escaped
pcall(string.gsub, ("a"):rep(30) .. "c", ("a-"):rep(30) .. "b", "")
print("escaped")
