"""What the TAP drivers under tests/ share: the TAP counter (ok, note, done,
bail), the env files the test servers write, an environment without the
machine's AWS and bqlua settings, the throwaway MariaDB and S3 test servers,
running a program with a time limit, and botocore signing at a given time.

A driver imports it relative to its own file, e.g. from tests/integration/X/:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
    import bqtest  # noqa: E402
"""

import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from unittest import mock

REPO = os.environ.get("BQLUA_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARIADB_SERVER = os.path.join(REPO, "scripts", "mariadb-test-server.sh")
S3_SERVER = os.path.join(REPO, "scripts", "s3-test-server.sh")

_n = 0
_failed = 0
_servers = []       # (script, dir) started: cleanup() stops them, the last first


# --- TAP ------------------------------------------------------------------------------------------

def ok(cond, name, diag=None):
    """One check: 'ok N - name' or 'not ok N - name' followed by diag's lines. Returns cond."""
    global _n, _failed
    _n += 1
    print(f"{'ok' if cond else 'not ok'} {_n} - {name}", flush=True)
    if not cond:
        _failed += 1
        if diag is not None:
            lines = str(diag).splitlines()
            if len(lines) > 60:         # the first 20 and the last 40
                lines = lines[:20] + [f"... {len(lines) - 60} lines left out ..."] + lines[-40:]
            for line in lines:
                print(f"#   {line}", flush=True)
    return cond


def note(msg):
    """msg as TAP comment lines."""
    for line in str(msg).splitlines():
        print(f"# {line}", flush=True)


def count():
    """How many checks so far."""
    return _n


def done():
    """Prints the plan (one check for each ok()); returns the exit status: 1 when one failed."""
    print(f"1..{_n}", flush=True)
    return 1 if _failed else 0


def bail(msg):
    """'Bail out!' and exit 1: what the checks need is missing (a failure, never a skip)."""
    print(f"Bail out! {msg}", flush=True)
    sys.exit(1)


def import_failed(what, err):
    """A module the driver needs is missing: one failed check, exit 1."""
    print("1..1")
    print(f"not ok 1 - import {what} ({err}); run with /usr/bin/python3", flush=True)
    sys.exit(1)


def args(*names):
    """The command line's arguments NAMES as absolute paths; exit 2 with the usage when they are not all there."""
    if len(sys.argv) != len(names) + 1:
        print(f"usage: {os.path.basename(sys.argv[0])} {' '.join(names)}", file=sys.stderr)
        sys.exit(2)
    return [os.path.abspath(a) for a in sys.argv[1:]]


# --- environments ---------------------------------------------------------------------------------

def load_env(path):
    """The KEY=value lines of a test server's DIR/env (values in '...' unquoted as the shell would)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            if len(v) >= 2 and v[0] == "'" and v[-1] == "'":
                v = v[1:-1].replace("'\\''", "'")
            env[k] = v
    return env


def clean_env(values=None, drop=()):
    """This process's environment without AWS_*, BQLUA_* and the prefixes in drop (no ambient AWS
    configuration or bqlua setting reaches a run), then values; a value None removes the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BQLUA_") + tuple(drop))}
    env.update(values or {})
    return {k: v for k, v in env.items() if v is not None}


# --- the test servers -----------------------------------------------------------------------------

def start_server(script, d, *extra, env=None, timeout=240):
    """Starts a test server (MARIADB_SERVER or S3_SERVER) in the folder d; cleanup() stops it.
    Returns the variables of d/env, or None when it did not start (its output shown as a note)."""
    _servers.append((script, d))        # stop is safe after a failed start
    r = subprocess.run(["bash", script, "start", d, *extra], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if r.returncode != 0:
        note(f"{os.path.basename(script)} start {' '.join([d, *extra])}: exit {r.returncode}\n"
             + (r.stdout + r.stderr)[-2000:])
        return None
    return load_env(os.path.join(d, "env"))


def cleanup(tmp=None):
    """Stops the servers start_server() started and removes the folder tmp."""
    while _servers:
        script, d = _servers.pop()
        subprocess.run(["bash", script, "stop", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


def cleanup_on_signals(tmp=None):
    """SIGTERM and SIGINT (meson's timeout, ^C) run cleanup(tmp), then exit 128+N."""
    def on_signal(signum, frame):
        cleanup(tmp)
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


# --- running programs -----------------------------------------------------------------------------

def _text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


def finish(p, timeout, input=None):
    """Waits for the subprocess.Popen p (stdout and stderr piped, input to its stdin), killing it
    when it has not ended within timeout seconds; returns (exit status, stdout, stderr, seconds),
    the output as text."""
    t0 = time.monotonic()
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return p.returncode, _text(out), _text(err), time.monotonic() - t0


def run(cmd, env=None, timeout=180, input=None, cwd=None):
    """Runs cmd as finish() waits: (exit status, stdout, stderr, seconds); input (bytes) is its stdin."""
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else None,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return finish(p, timeout, input)


# --- botocore as the reference signer (imported only by the drivers that use it) ------------------

@contextlib.contextmanager
def frozen_clock(at):
    """botocore's signing clock (pure-Python and CRT signers) stopped at the naive UTC datetime at."""
    import botocore.auth

    class FrozenDT(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return at

        @classmethod
        def now(cls, tz=None):
            return at.replace(tzinfo=tz) if tz else at

    fake = mock.MagicMock(wraps=datetime)
    fake.datetime = FrozenDT
    fake.timezone = datetime.timezone
    fake.timedelta = datetime.timedelta
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(botocore.auth, "datetime", fake))
        try:
            import botocore.crt.auth as crt_auth
        except ImportError:
            pass
        else:
            stack.enter_context(mock.patch.object(crt_auth, "datetime", fake))
        yield


def pure_signer():
    """A patch that makes botocore presign (RDS tokens) with its pure-Python SigV4QueryAuth,
    also where python3-awscrt is installed."""
    import botocore.auth
    maps = dict(botocore.auth.AUTH_TYPE_MAPS)
    maps["v4-query"] = botocore.auth.SigV4QueryAuth
    return mock.patch.object(botocore.auth, "AUTH_TYPE_MAPS", maps)
