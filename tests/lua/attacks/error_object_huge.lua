-- attack: raise a 50 MB error string (the report must stay bounded)
-- stderr-max: 20000
-- expect: exit=1 stderr~^bqlua: .*xxxx
error(("x"):rep(5e7))
