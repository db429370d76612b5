#!/usr/bin/python3
"""The log line format from outside (SPEC §3): --log-format json/text, -q/-v,
BQLUA_LOG_LEVEL, and escaping of newlines, quotes and invalid UTF-8. TAP."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

BQLUA, = bqtest.args("BQLUA")


def run(code, *opts, env=None):
    p = subprocess.run([BQLUA, *opts, "-e", code], env=bqtest.clean_env(env), capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


ALL = 'log.debug("d1") log.info("i1") log.warn("w1") log.error("e1")'


def levels_json(stderr):
    out = []
    for line in stderr.decode("utf-8").splitlines():
        out.append(json.loads(line)["level"])
    return out


# JSON lines: one object a line, with time, level, msg
rc, out, err = run(ALL, "--log-format", "json")
lines = err.decode().splitlines()
ok(rc == 0 and len(lines) == 3, "json: info, warn and error by default (3 lines)", err)
try:
    objs = [json.loads(l) for l in lines]
    ok(True, "json: every line parses as JSON")
except ValueError as e:
    objs = []
    ok(False, "json: every line parses as JSON", f"{e}\n{err!r}")
ok([o.get("level") for o in objs] == ["info", "warn", "error"], "json: levels named", objs)
ok([o.get("msg") for o in objs] == ["i1", "w1", "e1"], "json: messages", objs)
ok(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o.get("time", "")) for o in objs),
   "json: time is RFC 3339 UTC with milliseconds", objs)
ok(out == b"", "json: nothing on stdout", out)

# filtering
cases = [
    ((["-v"], {}), ["debug", "info", "warn", "error"], "-v shows debug"),
    ((["-q"], {}), ["warn", "error"], "-q hides info"),
    ((["-qq"], {}), ["error"], "-qq shows errors only"),
    ((["-q", "-q", "-q"], {}), ["error"], "-qqq is still errors"),
    (([], {"BQLUA_LOG_LEVEL": "debug"}), ["debug", "info", "warn", "error"], "BQLUA_LOG_LEVEL=debug"),
    (([], {"BQLUA_LOG_LEVEL": "warn"}), ["warn", "error"], "BQLUA_LOG_LEVEL=warn"),
    (([], {"BQLUA_LOG_LEVEL": "ERROR"}), ["error"], "BQLUA_LOG_LEVEL=ERROR (any case)"),
    ((["-v"], {"BQLUA_LOG_LEVEL": "error"}), ["debug", "info", "warn", "error"], "-v wins over BQLUA_LOG_LEVEL"),
    (([], {"BQLUA_LOG_FORMAT": "json", "BQLUA_LOG_LEVEL": "info"}), ["info", "warn", "error"], "BQLUA_LOG_FORMAT=json"),
]
for (opts, env), want, name in cases:
    fmt = [] if "BQLUA_LOG_FORMAT" in env else ["--log-format", "json"]
    rc, out, err = run(ALL, *fmt, *opts, env=env)
    try:
        got = levels_json(err)
    except ValueError:
        got = err
    ok(rc == 0 and got == want, "filter: " + name, f"got {got!r}, want {want!r}")

# escaping in JSON
rc, out, err = run(r'log.info("a\nb \"q\" back\\slash \t tab \0 nul \1 ctl \255 bad \xe2\x82 cut é")',
                   "--log-format", "json")
lines = err.decode("utf-8", "strict").splitlines()
ok(len(lines) == 1, "json: a message with newlines stays one line", err)
try:
    m = json.loads(lines[0])["msg"]
except Exception as e:
    m = None
    ok(False, "json: the escaped line parses", f"{e} {err!r}")
else:
    ok(True, "json: the escaped line parses")
ok(m is not None and "a\nb" in m, "json: newline escaped and restored", repr(m))
ok(m is not None and '"q"' in m and "back\\slash" in m, "json: quotes and backslashes", repr(m))
ok(m is not None and "\t tab" in m and "\x00 nul" in m and "\x01 ctl" in m, "json: control characters", repr(m))
ok(m is not None and "\ufffd bad" in m and "é" in m, "json: invalid UTF-8 becomes U+FFFD, valid stays", repr(m))

# text lines
rc, out, err = run(ALL)
lines = err.decode().splitlines()
ok(rc == 0 and len(lines) == 3, "text: three lines by default", err)
ok(all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR) ", l) for l in lines),
   "text: time and level prefix", err)
rc, out, err = run(r'log.warn("one\ntwo\r\nthree\27[31m")')
lines = err.decode("utf-8", "replace").splitlines()
ok(len(lines) == 1 and "\x1b" not in lines[0] and "two" in lines[0], "text: newlines and escape codes escaped", err)
rc, out, err = run('log.info(("x"):rep(100000))', "--log-format", "json")
ok(len(err) < 10000 and json.loads(err)["msg"].endswith("..."), "json: a long message is cut, still JSON",
   len(err))
rc, out, err = run('log.info("%s=%d", "n", 5)', "--log-format", "json")
ok(json.loads(err)["msg"] == "n=5", "json: format arguments", err)

# a fatal error in JSON mode is one JSON line
rc, out, err = run('error("boom\\nsecond")', "--log-format", "json")
try:
    o = json.loads(err.decode().strip().splitlines()[-1])
    good = o["level"] == "error" and "boom" in o["msg"]
except Exception:
    good = False
ok(rc == 1 and good and all(l.startswith("{") for l in err.decode().splitlines()),
   "json: a script error is reported as JSON lines", err)

sys.exit(bqtest.done())
