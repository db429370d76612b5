#!/usr/bin/python3
"""bqlua's exit codes and option validation from outside (SPEC §1). TAP.

usage: run_cli.py BQLUA
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bqtest  # noqa: E402

BQLUA, = bqtest.args("BQLUA")
TMP = tempfile.mkdtemp(prefix="bqlua-cli-")


def tap(cond, name, diag=()):
    bqtest.ok(cond, name, "\n".join(str(d) for d in diag))


def run(args, env=None, stdin=None, cwd=None, timeout=30):
    rc, out, err, _ = bqtest.run([BQLUA, *args], bqtest.clean_env(env), timeout, input=stdin, cwd=cwd or TMP)
    return rc, out, err


def write(name, content, mode="w"):
    path = os.path.join(TMP, name)
    with open(path, mode) as f:
        f.write(content)
    return path


def expect(name, args, code, stdout=None, stderr=None, env=None, stdin=None, cwd=None):
    rc, out, err = run(args, env=env, stdin=stdin, cwd=cwd)
    good = rc == code
    if stdout is not None:
        good = good and re.search(stdout, out, re.S) is not None
    if stderr is not None:
        good = good and re.search(stderr, err, re.S) is not None
    tap(good, name, [f"exit {rc} (want {code})", f"args {args} env {env}",
                     "stdout: " + repr(out[-500:]), "stderr: " + repr(err[-800:])])
    return rc, out, err


def usage_error(name, args, env=None, mention=None):
    """exit 2, stdout empty, exactly one stderr line starting 'bqlua: '."""
    rc, out, err = run(args + ([] if "-e" in args or "--version" in args else []), env=env)
    lines = err.splitlines()
    good = rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("bqlua: ")
    if mention:
        good = good and mention in err
    tap(good, "usage error: " + name, [f"exit {rc}", f"args {args} env {env}",
                                       "stdout: " + repr(out[-300:]), "stderr: " + repr(err[-500:])])


ok_script = write("ok.lua", 'print("ran")\n')

# --- 0 and the script's own status ---------------------------------------------
expect("exit 0 on success", [ok_script], 0, stdout=r"^ran\n$")
for v, code in [("0", 0), ("1", 1), ("5", 5), ("125", 125), ("255", 255), ("true", 0), ("false", 1), ("nil", 0)]:
    expect(f"return {v} exits {code}", ["-e", f"return {v}"], code)
for v in ["256", "-1", "1.5", "'3'", "{}"]:
    expect(f"return {v} is an error (1)", ["-e", f"return {v}"], 1, stderr=r"the script returned")
for v, code in [("", 0), ("true", 0), ("false", 1), ("0", 0), ("3", 3), ("200", 200), ("255", 255)]:
    expect(f"os.exit({v}) exits {code}", ["-e", f"print('before') os.exit({v}) print('after')"], code,
           stdout=r"^before\n$")
expect("os.exit(256) is a script error", ["-e", "os.exit(256)"], 1, stderr=r"bad argument")
expect("os.exit('x') is a script error", ["-e", "os.exit('x')"], 1, stderr=r"bad argument")

# --- 1: script error: one message line, then a traceback ------------------------
rc, out, err = expect("exit 1 on a script error", [write("err.lua", "local x = 1\nerror('boom')\n")], 1)
lines = err.splitlines()
tap(len(lines) >= 2 and lines[0].startswith("bqlua: ") and "err.lua:2: boom" in lines[0]
    and lines[1].startswith("stack traceback:"), "script error: one message line then a traceback",
    [repr(err)])
tap(sum(1 for l in lines if l.startswith("bqlua: ")) == 1, "script error: a single bqlua: line", [repr(err)])
expect("runtime error exits 1", ["-e", "local t = nil; return t.x"], 1, stderr=r"attempt to index a nil value")
expect("error with a table exits 1", ["-e", "error({code='X'})"], 1, stderr=r"error object is a table")

# --- 2: usage errors --------------------------------------------------------------
usage_error("no script", [])
usage_error("unknown option", ["--bogus", ok_script], mention="--bogus")
usage_error("unknown short option", ["-x", ok_script])
for opt in ["--region", "--endpoint", "--ca-bundle", "--s3-root", "--timeout", "--memory-limit",
            "--allow-bucket", "--sha256", "--log-format", "-e"]:
    usage_error(f"{opt} missing its value", [opt], mention=opt)
usage_error("empty script path", [""])
rc, out, err = run(["--help"])
tap(rc == 0 and out.startswith("usage: bqlua") and "--memory-limit" in out and err == "",
    "--help: exit 0, usage on stdout", [rc, out[:200], err])
rc, out, err = run(["-h"])
tap(rc == 0 and out.startswith("usage: bqlua"), "-h is --help", [rc, out[:200]])
rc, out, err = run(["--version"])
tap(rc == 0 and re.search(r"Lua 5\.4", out) and "libcurl" in out and "OpenSSL" in out
    and "libmariadb" in out and err == "", "--version lists Lua, libcurl, OpenSSL, libmariadb", [rc, out, err])

notdir = write("plainfile", "x")
bad_values = [
    # (name, option args, env var, env value)
    ("--region garbage", ["--region", "US EAST"], "AWS_REGION", "US EAST"),
    ("--region uppercase", ["--region", "US-EAST-1"], "AWS_DEFAULT_REGION", "US-EAST-1"),
    ("--endpoint plain http to a non-loopback host", ["--endpoint", "http://example.com"],
     "AWS_ENDPOINT_URL_S3", "http://example.com"),
    ("--endpoint bad scheme", ["--endpoint", "ftp://example.com"], "AWS_ENDPOINT_URL", "ftp://example.com"),
    ("--endpoint with userinfo", ["--endpoint", "https://user:pass@example.com"],
     "AWS_ENDPOINT_URL_S3", "https://user:pass@example.com"),
    ("--endpoint bad port", ["--endpoint", "https://example.com:99999"], "AWS_ENDPOINT_URL", "https://example.com:99999"),
    ("--endpoint port 0", ["--endpoint", "https://example.com:0"], "AWS_ENDPOINT_URL_S3", "https://example.com:0"),
    ("--endpoint no host", ["--endpoint", "https://"], "AWS_ENDPOINT_URL_S3", "https://"),
    ("--endpoint with a query", ["--endpoint", "https://example.com/?x=1"], "AWS_ENDPOINT_URL_S3", "https://example.com/?x=1"),
    ("--ca-bundle missing file", ["--ca-bundle", "/nonexistent/ca.pem"], "AWS_CA_BUNDLE", "/nonexistent/ca.pem"),
    ("--ca-bundle a directory", ["--ca-bundle", TMP], "AWS_CA_BUNDLE", TMP),
    ("--s3-root not a directory", ["--s3-root", notdir], "BQLUA_S3_ROOT", notdir),
    ("--s3-root missing", ["--s3-root", "/nonexistent/dir"], "BQLUA_S3_ROOT", "/nonexistent/dir"),
    ("--timeout negative", ["--timeout", "-1"], "BQLUA_TIMEOUT", "-1"),
    ("--timeout garbage", ["--timeout", "soon"], "BQLUA_TIMEOUT", "soon"),
    ("--timeout with a unit", ["--timeout", "10s"], "BQLUA_TIMEOUT", "10s"),
    ("--timeout NaN", ["--timeout", "nan"], "BQLUA_TIMEOUT", "nan"),
    ("--memory-limit below 1M", ["--memory-limit", "512K"], "BQLUA_MEMORY_LIMIT", "512K"),
    ("--memory-limit above 1T", ["--memory-limit", "2T"], "BQLUA_MEMORY_LIMIT", "2T"),
    ("--memory-limit garbage", ["--memory-limit", "lots"], "BQLUA_MEMORY_LIMIT", "lots"),
    ("--memory-limit negative", ["--memory-limit", "-5M"], "BQLUA_MEMORY_LIMIT", "-5M"),
    ("--allow-bucket invalid name", ["--allow-bucket", "Bad_Bucket"], "BQLUA_ALLOW_BUCKETS", "Bad_Bucket"),
    ("--allow-bucket too short", ["--allow-bucket", "ab"], "BQLUA_ALLOW_BUCKETS", "ok-bucket,ab"),
    ("--allow-bucket an IP address", ["--allow-bucket", "192.168.1.1"], "BQLUA_ALLOW_BUCKETS", "192.168.1.1"),
    ("--sha256 wrong length", ["--sha256", "abc123"], "BQLUA_SCRIPT_SHA256", "abc123"),
    ("--sha256 not hex", ["--sha256", "g" * 64], "BQLUA_SCRIPT_SHA256", "g" * 64),
    ("--log-format other", ["--log-format", "xml"], "BQLUA_LOG_FORMAT", "xml"),
]
for name, opts, var, val in bad_values:
    usage_error(name, opts + [ok_script])
    usage_error(f"{name} (from {var})", [ok_script], env={var: val})
env_only = [
    ("BQLUA_LOG_LEVEL garbage", {"BQLUA_LOG_LEVEL": "loud"}),
    ("BQLUA_MASK_ENV bad name", {"BQLUA_MASK_ENV": "GOOD,1BAD"}),
    ("BQLUA_MASK_ENV with a dash", {"BQLUA_MASK_ENV": "MY-TOKEN"}),
    ("BQLUA_MASK_ENV empty item", {"BQLUA_MASK_ENV": "A,,B"}),
    ("BQLUA_MASK_ENV trailing comma", {"BQLUA_MASK_ENV": "A,"}),
    ("BQLUA_ALLOW_BUCKETS empty item", {"BQLUA_ALLOW_BUCKETS": "good-bucket,,other-bucket"}),
    ("BQLUA_S3_PATH_STYLE garbage", {"BQLUA_S3_PATH_STYLE": "maybe"}),
    ("BQLUA_SHARD_INDEX without COUNT", {"BQLUA_SHARD_INDEX": "1"}),
    ("BQLUA_SHARD_COUNT without INDEX", {"BQLUA_SHARD_COUNT": "4"}),
    ("BQLUA_SHARD_INDEX >= COUNT", {"BQLUA_SHARD_INDEX": "4", "BQLUA_SHARD_COUNT": "4"}),
    ("BQLUA_SHARD_COUNT zero", {"BQLUA_SHARD_INDEX": "0", "BQLUA_SHARD_COUNT": "0"}),
    ("BQLUA_SHARD_INDEX garbage", {"BQLUA_SHARD_INDEX": "x", "BQLUA_SHARD_COUNT": "4"}),
    ("AWS_BATCH_JOB_ARRAY_INDEX >= SIZE", {"AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "3"}),
]
for name, env in env_only:
    usage_error(name, [ok_script], env=env)
# a secret in a bad option never comes back
rc, out, err = run(["--endpoint", "https://AKID:s3cr3tpass@example.com", ok_script])
tap(rc == 2 and "s3cr3tpass" not in err, "endpoint userinfo is not echoed", [err])

# the good values are accepted
expect("valid options accepted", ["--region", "eu-west-1", "--endpoint", "http://127.0.0.1:9000",
                                  "--timeout", "1.5", "--memory-limit", "64M", "--allow-bucket", "my-bucket",
                                  "--log-format", "json", "-q", ok_script], 0, stdout=r"^ran\n$")
expect("--insecure-endpoint allows plain http", ["--insecure-endpoint", "--endpoint", "http://example.com",
                                                 ok_script], 0)
expect("http to [::1] is loopback", ["--endpoint", "http://[::1]:9000", ok_script], 0)
expect("--memory-limit 1M and 1T are the bounds", ["--memory-limit", "1T", ok_script], 0)
expect("option=value form", ["--timeout=5", ok_script], 0)
expect("BQLUA_S3_PATH_STYLE=1 accepted", [ok_script], 0, env={"BQLUA_S3_PATH_STYLE": "1"})
expect("BQLUA_MASK_ENV list accepted", [ok_script], 0, env={"BQLUA_MASK_ENV": "A,B_2,_C"})

# --- 3: load failures ------------------------------------------------------------
expect("missing file exits 3", [os.path.join(TMP, "nope.lua")], 3, stderr=r"^bqlua: .*nope\.lua")
expect("a directory exits 3", [TMP + "/"], 3, stderr=r"directory")
syntax = write("syntax.lua", "local = 1\n")
rc, out, err = expect("syntax error exits 3", [syntax], 3, stderr=r"syntax\.lua:1:")
tap(len(err.splitlines()) == 1, "a load failure is one line", [repr(err)])
binpath = os.path.join(TMP, "chunk.luac")
luac = shutil.which("luac5.4")
if luac:
    subprocess.run([luac, "-o", binpath, ok_script], check=True)
else:
    write("chunk.luac", b"\x1bLuaT\x00\x19\x93\r\n\x1a\n\x04\x08\x08xV\x00\x00", "wb")
expect("a precompiled chunk exits 3", [binpath], 3, stderr=r"binary")
shebang_bin = write("shebang.luac", b"#!/usr/bin/bqlua\n\x1bLuaT\x00\x19\x93\r\n\x1a\n", "wb")
expect("a precompiled chunk after a shebang exits 3", [shebang_bin], 3, stderr=r"^bqlua: cannot load")
expect("bytecode on stdin exits 3", ["-"], 3, stdin=open(binpath, "rb").read(), stderr=r"binary")
digest = hashlib.sha256(open(ok_script, "rb").read()).hexdigest()
expect("--sha256 mismatch exits 3", ["--sha256", "0" * 64, ok_script], 3, stderr=r"SHA-256 mismatch")
expect("BQLUA_SCRIPT_SHA256 mismatch exits 3", [ok_script], 3, env={"BQLUA_SCRIPT_SHA256": "f" * 64},
       stderr=r"SHA-256")
expect("--sha256 match runs", ["--sha256", digest, ok_script], 0, stdout=r"^ran\n$")
expect("--sha256 in uppercase accepted", ["--sha256", digest.upper(), ok_script], 0, stdout=r"^ran\n$")
rc, out, err = expect("--sha256 mismatch with a syntax error is still 3", ["--sha256", "0" * 64, syntax], 3)
expect("--sha256 of stdin", ["--sha256", hashlib.sha256(b"print('in')").hexdigest(), "-"], 0,
       stdin=b"print('in')", stdout=r"^in\n$")
s3root = os.path.join(TMP, "s3root")
os.makedirs(os.path.join(s3root, "my-bucket"))
no_net = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDTEST",
          "AWS_SECRET_ACCESS_KEY": "cli-test-secret-value"}
rc, out, err = expect("a missing s3:// script exits 3", ["--s3-root", s3root, "s3://my-bucket/task.lua"], 3,
                      env=no_net, stderr=r"^bqlua: cannot load s3://my-bucket/task\.lua")
tap("cli-test-secret-value" not in err, "no secret in an S3 load failure", [err])
expect("a missing BUCKET KEY script exits 3", ["--s3-root", s3root, "my-bucket", "tasks/task.lua"], 3,
       env=no_net, stderr=r"^bqlua: cannot load")
usage_error("s3:// URI with a bad bucket", ["s3://Bad_Bucket/key.lua"])
usage_error("s3:// URI without a key", ["s3://my-bucket/"])
usage_error("BUCKET KEY with a bad bucket", ["Bad_Bucket", "key.lua"])

# --- 4: limits -----------------------------------------------------------------------
t0 = time.monotonic()
expect("timeout exits 4", ["--timeout", "0.5", "-e", "while true do end"], 4, stderr=r"time limit")
tap(time.monotonic() - t0 < 5, "the timeout ends the script promptly", [time.monotonic() - t0])
expect("BQLUA_TIMEOUT exits 4", ["-e", "while true do end"], 4, env={"BQLUA_TIMEOUT": "0.5"})
expect("memory limit exits 4", ["--memory-limit", "16M", "-e", "local t = {} while true do t[#t+1] = {} end"],
       4, stderr=r"memory limit of 16 MiB")
expect("BQLUA_MEMORY_LIMIT exits 4", ["-e", "local s = ('x'):rep(64 * 1024 * 1024)"], 4,
       env={"BQLUA_MEMORY_LIMIT": "16M"}, stderr=r"memory limit")
big = write("big.lua", "return {" + "1," * 2000000 + "}\n")
expect("the parser counts against the memory cap (exit 4)", ["--memory-limit", "4M", big], 4,
       stderr=r"memory limit")
expect("timeout 0 means none", ["--timeout", "0", "-e", "print(task.remaining())"], 0, stdout=r"^nil\n$")

# --- 128+N: signals -----------------------------------------------------------------
for sig, code in [(signal.SIGTERM, 143), (signal.SIGINT, 130)]:
    p = subprocess.Popen([BQLUA, "-e", "print('started') while true do end"], env=bqtest.clean_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.send_signal(sig)
    rc, out, err, _ = bqtest.finish(p, 10)
    tap(rc == code and f"signal {int(sig)}" in err, f"{signal.Signals(sig).name} exits {code}", [rc, err])

# --- arguments, stdin, shebang, -- ------------------------------------------------------
expect("arguments reach arg and ...", ["-e", "print(arg[0], arg[1], arg[2], select('#', ...), ...)", "a", "b c"],
       0, stdout=r"^\(command line\)\ta\tb c\t2\ta\tb c\n$")
args_script = write("args.lua", "print(arg[0] == ..., #arg, arg[1], arg[2])\nprint(...)\n")
expect("script arguments (options after the script are arguments)", [args_script, "--timeout", "x"], 0,
       stdout=r"^false\t2\t--timeout\tx\n--timeout\tx\n$")
expect("- reads the script from stdin", ["-", "z"], 0, stdin=b"print('stdin', ...)", stdout=r"^stdin\tz\n$")
sheb = write("sheb.lua", "#!/usr/bin/env bqlua\nprint('sheb')\nerror('line3')\n")
expect("a shebang line is skipped, line numbers kept", [sheb], 1, stdout=r"^sheb\n$", stderr=r"sheb\.lua:3: line3")
dash = write("-dash.lua", "print('dash')\n")
expect("-- ends options", ["--", "-dash.lua"], 0, stdout=r"^dash\n$")
expect("-- then a script and arguments", ["--", ok_script, "--help"], 0, stdout=r"^ran\n$")
expect("-e with arguments", ["-e", "print(...)", "x"], 0, stdout=r"^x\n$")
expect("a script in the current folder without a path", ["ok.lua"], 0, stdout=r"^ran\n$", cwd=TMP)

shutil.rmtree(TMP, ignore_errors=True)
sys.exit(bqtest.done())
