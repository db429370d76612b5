#!/usr/bin/env python3
"""The seed scenario end to end (TAP): scripts/demo.sh as the README runs it.

The demo starts a MariaDB with TLS and the RDS IAM emulation, puts
batchquery.lua on a local S3, runs `bqlua batchquery-s3 script/batchquery.lua`
(IAM token, verified TLS, conn:export) and prints result.part_00000. The
oracle is the server itself: a second MariaDB loads the same table1.sql and
writes SELECT * INTO OUTFILE; the two files must be byte-identical.

usage: run_seed.py BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

REPO = bqtest.REPO
BUILD, = bqtest.args("BUILD_DIR")

tmp = tempfile.mkdtemp(prefix="bqlua-seed-")
try:
    ours = os.path.join(tmp, "bqlua.part_00000")
    env = dict(os.environ, BQLUA_BUILD_DIR=BUILD, DEMO_RESULT=ours)
    r = subprocess.run(["bash", os.path.join(REPO, "scripts", "demo.sh")], cwd=REPO, env=env,
                       capture_output=True, timeout=600)
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    ok(r.returncode == 0, "scripts/demo.sh succeeds", out)
    ok("connected to 127.0.0.1" in out and " as bq_iam" in out, "bqlua logged in as the IAM user", out)
    ok("user='bq_iam'" in out and "ACCEPTED" in out,
       "the server's independent verifier accepted the IAM token", out)
    ok("10 rows" in out, "ten rows exported", out)

    # The oracle: the server's own INTO OUTFILE of the same table.
    outdir = os.path.join(tmp, "outfile")
    os.mkdir(outdir)
    os.chmod(outdir, 0o777)
    dbdir = os.path.join(tmp, "db")
    senv = bqtest.start_server(bqtest.MARIADB_SERVER, dbdir, timeout=120,
                               env=dict(os.environ, MYSQL_EXTRA_ARGS=f"--secure-file-priv={outdir}"))
    ok(senv is not None, "an oracle MariaDB starts")
    sock = ["mariadb", f"--socket={senv['MYSQL_SOCKET']}", "-uroot"]
    with open(os.path.join(REPO, "scripts", "demo", "table1.sql"), "rb") as sql:
        load = subprocess.run(sock, stdin=sql, capture_output=True, timeout=60)
    ok(load.returncode == 0, "the oracle loads table1.sql", load.stderr)
    theirs = os.path.join(outdir, "server.txt")
    q = subprocess.run(sock + ["-e", f"SELECT * FROM db01.table1 INTO OUTFILE '{theirs}'"],
                       capture_output=True, timeout=60)
    ok(q.returncode == 0, "the server writes SELECT * INTO OUTFILE", q.stderr)
    a = open(ours, "rb").read() if os.path.exists(ours) else b""
    b = open(theirs, "rb").read() if os.path.exists(theirs) else b"(missing)"
    ok(a == b and len(a) > 0, "result.part_00000 is byte-identical to the server's INTO OUTFILE",
       f"bqlua:  {a!r}\nserver: {b!r}")
finally:
    bqtest.cleanup(tmp)
sys.exit(bqtest.done())
