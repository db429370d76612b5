#!/usr/bin/python3
"""TAP: lua/examples/sharded_export.lua run locally as 3 shards.

Usage: run_sharded.py BQLUA

Starts a throwaway MariaDB (scripts/mariadb-test-server.sh --no-tls), fills a
table (NULLs, tabs, newlines, backslashes, UTF-8, gaps in the ids), runs the
example three times with BQLUA_SHARD_INDEX=0..2 and BQLUA_SHARD_COUNT=3 against
--s3-root, and checks that each shard wrote only its own rows (id mod 3) to
its own prefix and that the parts together hold exactly the table's rows,
byte for byte as the server's own SELECT ... INTO OUTFILE writes them. Then the
same as an AWS Batch array child (AWS_BATCH_JOB_ARRAY_INDEX/_SIZE).
Run as root with Debian's /usr/bin/python3 (pymysql). Stops what it started.
"""

import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

EXAMPLE = os.path.join(bqtest.REPO, "lua", "examples", "sharded_export.lua")

try:
    import pymysql
except ImportError as e:
    bqtest.import_failed("pymysql", e)

BQLUA, = bqtest.args("BQLUA")
TMP = tempfile.mkdtemp(prefix="bqlua-sharded-")
OUTDIR = os.path.join(TMP, "outfiles")
S3ROOT = os.path.join(TMP, "s3")
SERVER_DIR = os.path.join(TMP, "db")
bqtest.cleanup_on_signals(TMP)


def start_server():
    os.makedirs(OUTDIR)
    env = dict(os.environ, MYSQL_EXTRA_ARGS=f"--secure-file-priv={OUTDIR}")
    return (bqtest.start_server(bqtest.MARIADB_SERVER, SERVER_DIR, "--no-tls", env=env)
            or bqtest.bail("cannot start the server"))


def run_shard(senv, prefix, shard_env):
    env = bqtest.clean_env(dict(shard_env, AWS_EC2_METADATA_DISABLED="true", DB_HOST="127.0.0.1",
                                DB_PORT=senv["MYSQL_PORT"], DB_USER=senv["MYSQL_PW_USER"],
                                DB_PASSWORD=senv["MYSQL_PW_PASSWORD"], DB_NAME=senv["MYSQL_DATABASE"],
                                TABLE="orders", OUTPUT_PREFIX=prefix), drop=("DB_",))
    return subprocess.run([BQLUA, "--s3-root", S3ROOT, EXAMPLE], env=env, capture_output=True, timeout=120)


def parts(prefix):
    """Every part file of a prefix, in order, concatenated."""
    bucket, key = prefix[len("s3://"):].split("/", 1)
    files = sorted(glob.glob(os.path.join(S3ROOT, bucket, glob.escape(key) + ".part_*")))
    data = b""
    for f in files:
        with open(f, "rb") as fh:
            data += fh.read()
    return files, data


def rows_of(data):
    # one row a line: embedded newlines are escaped (\<LF>), so split on unescaped LF
    out, cur, i = [], b"", 0
    while i < len(data):
        c = data[i:i + 1]
        if c == b"\\" and i + 1 < len(data):
            cur += data[i:i + 2]
            i += 2
            continue
        if c == b"\n":
            out.append(cur)
            cur = b""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


def main():
    senv = start_server()
    os.makedirs(os.path.join(S3ROOT, "exports"))
    conn = pymysql.connect(unix_socket=senv["MYSQL_SOCKET"], user="root", database=senv["MYSQL_DATABASE"],
                           charset="utf8mb4", autocommit=True)
    c = conn.cursor()
    c.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100), amount DECIMAL(20,2), "
              "note TEXT, created DATETIME) DEFAULT CHARSET=utf8mb4")
    hostile = ["plain", "tab\there", "nl\nhere", "back\\slash", "héllo ✓", "", None, "\\N", "NULL"]
    ids = [i for i in range(1, 1200) if i % 7 != 3] + [10 ** 12, 10 ** 12 + 1, 10 ** 12 + 2]
    c.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)",
                  [(i, f"cust{i % 97}", None if i % 11 == 0 else f"{i}.{i % 100:02d}", hostile[i % len(hostile)],
                    f"2026-01-{1 + i % 28:02d} 12:{i % 60:02d}:00") for i in ids])
    c.execute(f"GRANT SELECT ON {senv['MYSQL_DATABASE']}.* TO '{senv['MYSQL_PW_USER']}'@'%'")
    c.execute(f"SELECT * FROM orders ORDER BY id INTO OUTFILE '{OUTDIR}/all.txt'")
    with open(os.path.join(OUTDIR, "all.txt"), "rb") as f:
        golden = rows_of(f.read())
    ok(len(golden) == len(ids), "the server's INTO OUTFILE holds every row", (len(golden), len(ids)))

    base = "s3://exports/orders/2026/result"
    all_rows, prefixes = [], set()
    for i in range(3):
        p = run_shard(senv, base, {"BQLUA_SHARD_INDEX": str(i), "BQLUA_SHARD_COUNT": "3"})
        ok(p.returncode == 0, f"shard {i} of 3 exits 0", p.stderr.decode(errors="replace"))
        prefix = f"{base}.shard_{i:05d}"
        files, data = parts(prefix)
        rows = rows_of(data)
        ok(files and all(int(r.split(b"\t", 1)[0]) % 3 == i for r in rows) and rows,
           f"shard {i} writes only rows with id mod 3 = {i}, to its own prefix {prefix}.part_*",
           (files, rows[:3]))
        ok(len(rows) == sum(1 for x in ids if x % 3 == i), f"shard {i} writes every one of its rows",
           (len(rows), sum(1 for x in ids if x % 3 == i)))
        ok(f"shard {i} of 3".encode() in p.stderr and b"wrote" in p.stderr, f"shard {i} logs its shard and row count",
           p.stderr)
        prefixes.add(prefix)
        all_rows += rows
    ok(len(all_rows) == len(golden) and sorted(all_rows) == sorted(golden),
       "the three shards' parts together hold exactly the table's rows, byte for byte as INTO OUTFILE writes them",
       f"{len(all_rows)} rows exported, {len(golden)} in the table; "
       f"missing {len(set(golden) - set(all_rows))}, extra {len(set(all_rows) - set(golden))}")
    ok(len(set(all_rows)) == len(all_rows), "no row is exported twice")
    leftovers = [f for f in glob.glob(os.path.join(S3ROOT, "exports", "orders", "2026", "*"))
                 if not any(f.startswith(os.path.join(S3ROOT, "exports", pr[len("s3://exports/"):]) + ".part_")
                            for pr in prefixes)]
    ok(not leftovers, "nothing else is written under the output prefix", leftovers)

    # an AWS Batch array child: the shard from AWS_BATCH_JOB_ARRAY_INDEX/_SIZE
    p = run_shard(senv, "s3://exports/batch/result", {"AWS_BATCH_JOB_ARRAY_INDEX": "1",
                                                       "AWS_BATCH_JOB_ARRAY_SIZE": "2"})
    files, data = parts("s3://exports/batch/result.shard_00001")
    rows = rows_of(data)
    ok(p.returncode == 0 and rows and all(int(r.split(b"\t", 1)[0]) % 2 == 1 for r in rows)
       and len(rows) == sum(1 for x in ids if x % 2 == 1),
       "as a Batch array child (index 1 of 2) it exports the odd ids", p.stderr.decode(errors="replace"))
    # running a shard again replaces its parts (overwrite), it does not add to them
    p = run_shard(senv, base, {"BQLUA_SHARD_INDEX": "0", "BQLUA_SHARD_COUNT": "3"})
    files, data = parts(f"{base}.shard_00000")
    ok(p.returncode == 0 and len(rows_of(data)) == sum(1 for x in ids if x % 3 == 0),
       "a retried shard replaces its own parts", p.stderr.decode(errors="replace"))
    conn.close()


try:
    main()
finally:
    bqtest.cleanup(TMP)
sys.exit(bqtest.done())
