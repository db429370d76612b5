_G.returns_nothing_ran = true
