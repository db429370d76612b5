-- attack: an infinite loop of one jump instruction, no calls
-- options: --timeout 1
-- expect: exit=4 stderr~time limit
::top:: goto top
