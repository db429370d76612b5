#!/usr/bin/python3
"""Every lua/**/*.lua (examples excluded) is listed in lua/meson.build and
can be required from the built binary. TAP."""
import os
import re
import subprocess
import sys

bqlua, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
luadir = os.path.join(root, "lua")
with open(os.path.join(luadir, "meson.build")) as f:
    listed = set(re.findall(r"'([^']+\.lua)'", f.read()))
mods = []
for dirpath, dirnames, filenames in os.walk(luadir):
    rel_dir = os.path.relpath(dirpath, luadir)
    if rel_dir == "examples" or rel_dir.startswith("examples" + os.sep):
        continue
    for fn in filenames:
        if fn.endswith(".lua"):
            mods.append(os.path.normpath(os.path.join(rel_dir, fn)).replace(os.sep, "/"))
mods.sort()
n = failed = 0
for rel in mods:
    n += 1
    good = rel in listed
    print(f"{'ok' if good else 'not ok'} {n} - lua/{rel} is listed in lua/meson.build")
    failed += not good
    name = rel[:-4].replace("/", ".")
    n += 1
    p = subprocess.run([bqlua, "-e", f'local m = require "{name}"; assert(m ~= nil)'],
                       capture_output=True, timeout=30, cwd="/")
    good = p.returncode == 0
    print(f"{'ok' if good else 'not ok'} {n} - require \"{name}\" works from the binary")
    if not good:
        print("# " + p.stderr.decode(errors="replace").replace("\n", "\n# "))
    failed += not good
for rel in sorted(listed - set(mods)):
    n += 1
    failed += 1
    print(f"not ok {n} - lua/meson.build lists lua/{rel}, which does not exist")
n += 1
good = len(mods) > 0
print(f"{'ok' if good else 'not ok'} {n} - found modules under lua/")
failed += not good
print(f"1..{n}")
sys.exit(1 if failed else 0)
