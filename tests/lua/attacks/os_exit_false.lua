-- attack: os.exit(false) must be a failure status even after output
-- expect: exit=1 stdout~^before$
print("before")
os.exit(false)
