-- attack: the same deep-nesting parse failure in a sibling required outside any pcall (the error reaches the host's handler through require)
-- file: deep.lua = return ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((
-- expect: exit=1 stderr~^bqlua: .*(overflow|levels) stderr!~error object is a table
require "deep"
