#!/usr/bin/python3
"""Runs every tests/lua/attacks/*.lua against the built bqlua and prints TAP.

Each attack file starts with a header of `-- key: value` comment lines:

  -- attack: one line describing the technique
  -- expect: exit=4 stderr~memory limit        exit codes (a|b), then optional
                                               stdout~RE / stderr~RE / stdout!~RE / stderr!~RE
  -- options: --timeout 2 --memory-limit 64M   bqlua options placed before the script
  -- args: a b                                 script arguments
  -- env: NAME=VALUE ...                       extra environment (shell-quoted)
  -- signal: TERM after 0.5                    send a signal after N seconds
  -- wall: 15                                  wall-clock bound in seconds (default 15)
  -- stderr-max: 20000                         stderr must stay below this many bytes
  -- file: lib/x.lua = return 1               a file beside the script (\\n = newline)
  -- outside: evil.lua = return 1             a file in a folder outside the script's
  -- symlink: evil.lua -> {outside}/evil.lua  a symbolic link beside the script
  -- dir: name.lua                            a directory beside the script

Each attack runs from a fresh temporary folder (require looks beside the
script). A value given in `env:` for a secret variable (the AWS ones and any
name in BQLUA_MASK_ENV) must never appear in stdout or stderr. Any sanitizer
report fails the test, whatever the exit code.
"""
import concurrent.futures
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bqtest  # noqa: E402

SECRET_NAMES = {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer)"
                       r"|runtime error:|SUMMARY: \w+Sanitizer")
HEADER = re.compile(r"^--\s*([a-z-]+):\s?(.*)$")


def parse_header(path):
    h = {"attack": None, "expect": None, "options": "", "args": "", "env": "", "signal": None,
         "wall": "15", "stderr-max": None, "file": [], "outside": [], "symlink": [], "dir": []}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.startswith("--"):
                break
            m = HEADER.match(line)
            if not m:
                continue
            k, v = m.group(1), m.group(2).strip()
            if k in ("file", "outside", "symlink", "dir"):
                h[k].append(v)
            elif k in h:
                h[k] = v
    return h


def parse_expect(s):
    """'exit=4 stderr~memory limit stdout!~x' -> (set of codes, [(stream, negate, regex)])"""
    parts = re.split(r"\s+(?=(?:stdout|stderr)!?~)", s.strip())
    m = re.fullmatch(r"exit=(-?\d+(?:\|-?\d+)*)", parts[0])
    if not m:
        raise ValueError(f"bad expect: {s!r}")
    codes = {int(c) for c in m.group(1).split("|")}
    checks = []
    for p in parts[1:]:
        m = re.fullmatch(r"(stdout|stderr)(!?)~(.*)", p, re.S)
        checks.append((m.group(1), m.group(2) == "!", re.compile(m.group(3))))
    return codes, checks


def make_fixtures(h, case_dir, outside_dir):
    def unescape(v):
        return v.replace("\\n", "\n")
    for spec in h["dir"]:
        os.makedirs(os.path.join(case_dir, spec), exist_ok=True)
    for key, base in (("file", case_dir), ("outside", outside_dir)):
        for spec in h[key]:
            rel, _, content = spec.partition(" = ")
            p = os.path.join(base, rel.strip())
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(unescape(content))
    for spec in h["symlink"]:
        rel, _, target = spec.partition(" -> ")
        p = os.path.join(case_dir, rel.strip())
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target.strip().replace("{outside}", outside_dir), p)


def run_one(bqlua, path):
    name = os.path.basename(path)[:-4]
    diag = []
    try:
        h = parse_header(path)
        if not h["attack"] or not h["expect"]:
            return name, False, ["header needs '-- attack:' and '-- expect:'"]
        codes, checks = parse_expect(h["expect"])
    except Exception as e:  # a broken header is a failing test
        return name, False, [f"header: {e}"]

    tmp = tempfile.mkdtemp(prefix="bqlua-attack-")
    try:
        case_dir = os.path.join(tmp, "case")
        outside_dir = os.path.join(tmp, "outside")
        os.makedirs(case_dir)
        os.makedirs(outside_dir)
        script = os.path.join(case_dir, os.path.basename(path))
        shutil.copyfile(path, script)
        make_fixtures(h, case_dir, outside_dir)

        extra = {}
        for item in shlex.split(h["env"]):
            k, _, v = item.partition("=")
            extra[k] = v
        env = bqtest.clean_env(extra)
        secret_names = set(SECRET_NAMES)
        secret_names.update(n for n in extra.get("BQLUA_MASK_ENV", "").split(",") if n)
        secrets = [v for k, v in extra.items() if k in secret_names and len(v) >= 4]

        cmd = [bqlua] + shlex.split(h["options"]) + [script] + shlex.split(h["args"])
        wall = float(h["wall"])
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=case_dir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if h["signal"]:
            m = re.fullmatch(r"(\w+) after ([\d.]+)", h["signal"])
            time.sleep(float(m.group(2)))
            proc.send_signal(getattr(signal, "SIG" + m.group(1)))
        try:
            out, err = proc.communicate(timeout=max(0.1, wall - (time.monotonic() - t0)))
            timed_out = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            timed_out = True
        elapsed = time.monotonic() - t0
        out_s = out.decode("utf-8", "replace")
        err_s = err.decode("utf-8", "replace")
        ok = True
        if timed_out:
            ok = False
            diag.append(f"did not end within {wall:g} s (killed)")
        elif proc.returncode not in codes:
            ok = False
            diag.append(f"exit {proc.returncode}, expected {'|'.join(map(str, sorted(codes)))}")
        for stream, neg, rx in checks:
            text = out_s if stream == "stdout" else err_s
            found = rx.search(text) is not None
            if found == neg:
                ok = False
                diag.append(f"{stream} {'matches' if neg else 'does not match'} /{rx.pattern}/")
        if h["stderr-max"] and len(err) > int(h["stderr-max"]):
            ok = False
            diag.append(f"stderr is {len(err)} bytes, more than {h['stderr-max']}")
        if SANITIZER.search(err_s):
            ok = False
            diag.append("sanitizer report on stderr")
        for s in secrets:
            if s in out_s or s in err_s:
                ok = False
                diag.append("a secret value appears in the output")
        if not ok:
            diag.append(f"command: {' '.join(shlex.quote(c) for c in cmd)}  ({elapsed:.2f} s)")
            diag.append("stdout tail: " + repr(out_s[-600:]))
            diag.append("stderr tail: " + repr(err_s[-1500:]))
        return name, ok, diag
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 3:
        print("usage: run_attacks.py BQLUA ATTACKS_DIR", file=sys.stderr)
        return 2
    bqlua = os.path.abspath(sys.argv[1])
    d = sys.argv[2]
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".lua"))
    if not files:
        print("1..0 # no attacks found")
        return 1
    print(f"1..{len(files)}", flush=True)
    jobs = min(8, os.cpu_count() or 2)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = ex.map(lambda p: run_one(bqlua, p), files)
        for i, (name, ok, diag) in enumerate(results, 1):
            print(f"{'ok' if ok else 'not ok'} {i} - attack: {name}")
            for line in diag:
                for l in line.splitlines() or [""]:
                    print(f"# {l}")
            sys.stdout.flush()
            failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
