-- attack: sleep far past the timeout (a C wait, no instructions run)
-- options: --timeout 1
-- wall: 6
-- expect: exit=4 stderr~time limit
task.sleep(1e9)
