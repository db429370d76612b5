return { b = require "lib.cycle_b" }
