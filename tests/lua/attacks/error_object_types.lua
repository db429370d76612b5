-- attack: raise non-string error values (nil, function, coroutine, userdata) to confuse the reporter
-- expect: exit=1 stderr~error object is a thread value
error(coroutine.create(print))
