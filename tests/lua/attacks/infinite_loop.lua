-- attack: a plain infinite loop
-- options: --timeout 1
-- expect: exit=4 stderr~time limit
while true do end
