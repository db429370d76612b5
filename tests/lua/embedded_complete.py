#!/usr/bin/python3
"""Every lua/**/*.lua (examples excluded) is listed in lua/meson.build and
can be required from the built binary. TAP."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

bqlua, root = bqtest.args("BQLUA", "SOURCE_ROOT")
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
for rel in mods:
    ok(rel in listed, f"lua/{rel} is listed in lua/meson.build")
    name = rel[:-4].replace("/", ".")
    p = subprocess.run([bqlua, "-e", f'local m = require "{name}"; assert(m ~= nil)'],
                       capture_output=True, timeout=30, cwd="/")
    ok(p.returncode == 0, f'require "{name}" works from the binary', p.stderr.decode(errors="replace"))
for rel in sorted(listed - set(mods)):
    ok(False, f"lua/meson.build lists lua/{rel}, which does not exist")
ok(len(mods) > 0, "found modules under lua/")
sys.exit(bqtest.done())
