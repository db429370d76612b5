#!/usr/bin/python3
"""Runs the vendored Lua 5.4 test files inside the bqlua sandbox; TAP output.

usage: run.py BQLUA_BINARY TESTS_LUA54_DIR [NAME...]

Each testes/NAME.lua runs as `bqlua runtest.lua NAME` from TESTS_LUA54_DIR
(runtest.lua sets the suite's _soft/_port globals, then requires the file).
A file passes when bqlua exits 0 and its last line of output is the "OK"
the suite prints at the end of every file.
"""
import os
import subprocess
import sys
import time

# Every vendored file (testes/NAME.lua), in the order of the suite's all.lua.
TESTS = [
    "calls", "strings", "literals", "tpack", "constructs", "cstack",
    "nextvar", "utf8", "closure", "math", "sort", "bitwise",
]
TIMEOUT = 300   # seconds per file; generous for sanitizer builds


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    bqlua = os.path.abspath(sys.argv[1])
    folder = os.path.abspath(sys.argv[2])
    names = sys.argv[3:] or TESTS
    env = dict(os.environ)
    # The sanitizer builds: LeakSanitizer is for the C tests, not for these.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    print("TAP version 13")
    print("1..%d" % len(names))
    failed = 0
    for n, name in enumerate(names, 1):
        start = time.monotonic()
        try:
            p = subprocess.run([bqlua, "--memory-limit", "1G", "runtest.lua", name],
                               cwd=folder, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
        secs = time.monotonic() - start
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        lines = [l for l in out.splitlines() if l.strip()]
        last = lines[-1].strip() if lines else ""
        ok = rc == 0 and last.upper() == "OK"
        if ok:
            print("ok %d - lua54/%s (%.1fs)" % (n, name, secs))
        else:
            failed += 1
            print("not ok %d - lua54/%s" % (n, name))
            print("  ---")
            print("  exit: %s" % rc)
            print("  last_stdout_line: %r" % last)
            print("  seconds: %.1f" % secs)
            print("  stdout_tail: |")
            for l in out.splitlines()[-15:]:
                print("    " + l)
            print("  stderr_tail: |")
            for l in err.splitlines()[-30:]:
                print("    " + l)
            print("  ...")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
