return { a = require "lib.cycle_a" }
