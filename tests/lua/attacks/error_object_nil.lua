-- attack: raise nil as the error value
-- expect: exit=1 stderr~nil
error(nil)
