#!/usr/bin/python3
"""TAP driver for conn:export against a throwaway MariaDB and --s3-root.

Usage: run_export.py BQLUA

Golden tests: a table of hostile values (every column type, NULL in every
nullable column, TAB, LF, CR, backslash, NUL, 0xFF, UTF-8, empty strings, the
strings NULL and \\N) is written by the server's own SELECT ... INTO OUTFILE
with several FIELDS/LINES combinations and by conn:export with the same
options; the files must be byte-identical. Then: CSV read back with Python's
csv module, header, part splitting, manifest, overwrite refusal and
replacement, zero rows, '?' parameters, and SIGTERM during an export (nothing
left at the prefix). Run as root with Debian's /usr/bin/python3 (pymysql).
Stops what it started.
"""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

CASES_LUA = os.path.join(HERE, "export_cases.lua")

try:
    import pymysql
except ImportError as e:
    bqtest.import_failed("pymysql", e)

BQLUA, = bqtest.args("BQLUA")

TMP = tempfile.mkdtemp(prefix="bqlua-export-")
OUTDIR = os.path.join(TMP, "outfiles")      # the server's secure_file_priv
S3ROOT = os.path.join(TMP, "s3")
BUCKET = "exports"
SERVER_DIR = os.path.join(TMP, "db")
bqtest.cleanup_on_signals(TMP)


def start_server():
    os.makedirs(OUTDIR)
    env = dict(os.environ, MYSQL_EXTRA_ARGS=f"--secure-file-priv={OUTDIR}")
    return (bqtest.start_server(bqtest.MARIADB_SERVER, SERVER_DIR, "--no-tls", env=env)
            or bqtest.bail("cannot start the server"))


def root_conn(senv, **kw):
    return pymysql.connect(unix_socket=senv["MYSQL_SOCKET"], user="root", database=senv["MYSQL_DATABASE"],
                           charset="utf8mb4", autocommit=True, **kw)


HOSTILE = "tab\there|nl\nhere|cr\rhere|bs\\here|nul\0here|q\"uote|c,omma|semi;colon|n-dash#hash~ nN0"
TYPES = [
    ("c_tinyint", "TINYINT"), ("c_smallint", "SMALLINT"), ("c_mediumint", "MEDIUMINT"), ("c_int", "INT"),
    ("c_bigint", "BIGINT"), ("c_ubigint", "BIGINT UNSIGNED"), ("c_decimal", "DECIMAL(20,6)"),
    ("c_float", "FLOAT"), ("c_double", "DOUBLE"), ("c_bit8", "BIT(8)"), ("c_bit64", "BIT(64)"),
    ("c_date", "DATE"), ("c_datetime", "DATETIME(6)"), ("c_timestamp", "TIMESTAMP(3) NULL"),
    ("c_time", "TIME(2)"), ("c_year", "YEAR"), ("c_char", "CHAR(120)"), ("c_varchar", "VARCHAR(200)"),
    ("c_binary", "BINARY(16)"), ("c_varbinary", "VARBINARY(200)"), ("c_tinyblob", "TINYBLOB"),
    ("c_blob", "BLOB"), ("c_mediumblob", "MEDIUMBLOB"), ("c_tinytext", "TINYTEXT"), ("c_text", "TEXT"),
    ("c_mediumtext", "MEDIUMTEXT"), ("c_enum", "ENUM('a','b\tc','NULL')"), ("c_set", "SET('x','y','z')"),
    ("c_json", "JSON"), ("c_point", "POINT"), ("c_inet6", "INET6"), ("c_uuid", "UUID"),
]
# A LONGTEXT/LONGBLOB is a "blob" to the server's prepare(); keep it last so
# the earlier columns decide is_ambiguous_field_term as on the server.
TYPES_LONG = [("c_longblob", "LONGBLOB"), ("c_longtext", "LONGTEXT")]


def make_table(c):
    cols = ",\n".join(f"{n} {t}" for n, t in TYPES + TYPES_LONG)
    c.execute(f"CREATE TABLE hostile (id INT PRIMARY KEY,\n{cols}) DEFAULT CHARSET=utf8mb4")
    names = ["id"] + [n for n, _ in TYPES + TYPES_LONG]
    ph = ", ".join(["%s"] * len(names))
    ins = f"INSERT INTO hostile ({', '.join(names)}) VALUES ({ph})"
    # row 1: NULL everywhere
    c.execute(ins, [1] + [None] * (len(names) - 1))
    # rows 2..: typed values, then hostile strings in every string column
    def row(i, nums, strs, blob, extra):
        vals = {"id": i}
        vals.update(nums)
        for n, t in TYPES + TYPES_LONG:
            if n in vals:
                continue
            if "BLOB" in t or "BINARY" in t:
                vals[n] = blob
            elif "TEXT" in t or "CHAR" in t:
                vals[n] = strs
        vals.update(extra)
        return [vals.get(n) for n in names]
    nums2 = dict(c_tinyint=-128, c_smallint=32767, c_mediumint=-8388608, c_int=2147483647,
                 c_bigint=-9223372036854775808, c_ubigint=18446744073709551615, c_decimal="-12345678901234.123456",
                 c_float=3.14159, c_double=-1.7976931348623157e308, c_bit8=b"\x0a", c_bit64=b"\x00\x09\x0a\x5c\x00\x0d\xff\x4e",
                 c_date="2026-02-28", c_datetime="2026-11-01 08:00:00.123456", c_timestamp="2026-11-01 08:00:00.5",
                 c_time="-838:59:59", c_year=2026, c_enum="b\tc", c_set="x,z", c_json='{"a": "t\\tb\\n", "n": null}',
                 c_inet6="2001:db8::ff00:42:8329", c_uuid="123e4567-e89b-12d3-a456-426614174000")
    c.execute(ins, row(2, nums2, HOSTILE, b"\x00\xff\xfe\t\n\r\\\"N0\x00", {}))
    nums3 = dict(c_tinyint=0, c_smallint=-1, c_mediumint=1, c_int=-2147483648, c_bigint=0, c_ubigint=0,
                 c_decimal="0.000001", c_float=1e-10, c_double=1e300, c_bit8=b"\x09", c_bit64=b"\x00" * 8,
                 c_date="1000-01-01", c_datetime="9999-12-31 23:59:59.999999", c_timestamp="1970-01-01 00:00:01",
                 c_time="00:00:00.01", c_year=1901, c_enum="NULL", c_set="", c_json="[]",
                 c_inet6="::", c_uuid="00000000-0000-0000-0000-000000000000")
    c.execute(ins, row(3, nums3, "héllo ✓ 😀 \\N NULL", b"\xff\xff", {}))
    c.execute(ins, row(4, nums3, "", b"", dict(c_char="NULL", c_varchar="\\N", c_text="\\", c_tinytext="\t",
                                                c_mediumtext="\n", c_longtext="\r\n")))
    c.execute(ins, row(5, nums2, "NULL", b"\\N", dict(c_varchar='"', c_text='""', c_char=",")))
    c.execute("UPDATE hostile SET c_point = ST_GeomFromText('POINT(1 2)') WHERE id IN (2, 3)")
    c.execute("UPDATE hostile SET c_point = ST_GeomFromText('POINT(9 10)') WHERE id = 4")
    c.execute("CREATE TABLE empty_t LIKE hostile")
    c.execute(f"GRANT SELECT ON *.* TO '{SENV['MYSQL_PW_USER']}'@'%'")


def server_outfile(c, path, clause, where=""):
    c.execute(f"SELECT * FROM hostile {where} ORDER BY id INTO OUTFILE '{path}' {clause}")
    with open(path, "rb") as f:
        return f.read()


def lit(c, s):
    return c.connection.escape(s)


# (name, conn:export opts, the SQL clause, as a function of the cursor)
COMBOS = [
    ("defaults", {}, lambda c: ""),
    ("comma enclosed", {"fields_terminated_by": ",", "fields_enclosed_by": '"'},
     lambda c: "FIELDS TERMINATED BY ',' ENCLOSED BY '\"'"),
    ("comma optionally enclosed, CRLF", {"fields_terminated_by": ",", "fields_enclosed_by": '"', "optionally": True,
                                         "lines_terminated_by": "\r\n"},
     lambda c: "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\r\\n'"),
    ("empty escape", {"fields_escaped_by": ""}, lambda c: "FIELDS ESCAPED BY ''"),
    ("empty escape, enclosed", {"fields_escaped_by": "", "fields_enclosed_by": "'"},
     lambda c: "FIELDS ENCLOSED BY '\\'' ESCAPED BY ''"),
    ("pipe, hash escape, line start/end", {"fields_terminated_by": "|", "fields_escaped_by": "#",
                                           "lines_starting_by": ">>", "lines_terminated_by": "<<\n"},
     lambda c: "FIELDS TERMINATED BY '|' ESCAPED BY '#' LINES STARTING BY '>>' TERMINATED BY '<<\\n'"),
    ("ambiguous separator n", {"fields_terminated_by": "n"}, lambda c: "FIELDS TERMINATED BY 'n'"),
    ("numeric separator -", {"fields_terminated_by": "-"}, lambda c: "FIELDS TERMINATED BY '-'"),
    ("enclosed by N", {"fields_terminated_by": ",", "fields_enclosed_by": "N"},
     lambda c: "FIELDS TERMINATED BY ',' ENCLOSED BY 'N'"),
    ("enclosed by 0, optionally", {"fields_terminated_by": ";", "fields_enclosed_by": "0", "optionally": True},
     lambda c: "FIELDS TERMINATED BY ';' OPTIONALLY ENCLOSED BY '0'"),
    ("empty lines terminator", {"fields_terminated_by": ";", "lines_terminated_by": ""},
     lambda c: "FIELDS TERMINATED BY ';' LINES TERMINATED BY ''"),
    ("empty field terminator, enclosed", {"fields_terminated_by": "", "fields_enclosed_by": '"'},
     lambda c: "FIELDS TERMINATED BY '' ENCLOSED BY '\"'"),
    ("multi-char terminators", {"fields_terminated_by": "\t\t", "lines_terminated_by": "XYZ\n"},
     lambda c: "FIELDS TERMINATED BY '\\t\\t' LINES TERMINATED BY 'XYZ\\n'"),
    ("escape is the terminator", {"fields_terminated_by": "\\"}, lambda c: "FIELDS TERMINATED BY '\\\\'"),
    ("terminators are TAB and LF enclosed", {"fields_enclosed_by": "\t", "optionally": True},
     lambda c: "FIELDS OPTIONALLY ENCLOSED BY '\\t'"),
]


def part_path(prefix, i=0):
    return os.path.join(S3ROOT, BUCKET, f"{prefix}.part_{i:05d}")


def run_cases(cases, timeout=300, s3env=None):
    """The cases against --s3-root, or against the S3 test server of s3env."""
    env = bqtest.clean_env({**SENV, "EXPORT_CASES": json.dumps(cases), "AWS_EC2_METADATA_DISABLED": "true"})
    if s3env:
        env.update(AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"], AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"],
                   AWS_REGION="us-east-1")
        where = ["--endpoint", s3env["S3_ENDPOINT"]]
    else:
        where = ["--s3-root", S3ROOT]
    r = subprocess.run([BQLUA, *where, CASES_LUA], env=env, capture_output=True, timeout=timeout)
    out = {}
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[d["name"]] = d
    return r, out


def hexdiff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return f"first difference at byte {i}:\n server: {a[max(0, i-40):i+40]!r}\n export: {b[max(0, i-40):i+40]!r}"
    return f"lengths differ: server {len(a)}, export {len(b)}\n server tail: {a[-60:]!r}\n export tail: {b[-60:]!r}"


def main():
    global SENV
    SENV = start_server()
    os.makedirs(os.path.join(S3ROOT, BUCKET))
    with root_conn(SENV) as rc:
        c = rc.cursor()
        make_table(c)
        golden = []
        for i, (name, opts, clause) in enumerate(COMBOS):
            golden.append(server_outfile(c, os.path.join(OUTDIR, f"g{i}.txt"), clause(c)))
        golden_x = server_outfile(c, os.path.join(OUTDIR, "x.txt"), "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n'")

    # The golden data really is hostile: escaped TAB/LF/backslash/NUL, raw CR,
    # 0xFF, UTF-8, \N for NULL, and BIT bytes written raw (not a string type).
    g = golden[0]
    ok(all(x in g for x in [b"tab\\\there", b"nl\\\nhere", b"cr\rhere", b"bs\\\\here", b"nul\\0here",
                            b"\xff", "\U0001f600".encode(), b"\\N\t\\N", b"\t\n\t"]),
       "the server's file holds the hostile bytes the test is about", g[:300])
    SQL = "SELECT * FROM hostile ORDER BY id"
    cases = [{"name": name, "sql": SQL, "prefix": f"golden/g{i}", "opts": opts}
             for i, (name, opts, _) in enumerate(COMBOS)]
    # header, CSV, parts, manifest, zero rows, params
    cases += [
        {"name": "header", "sql": SQL, "prefix": "header/h", "opts": {"header": True}},
        {"name": "csv", "sql": SQL, "prefix": "csv/c", "opts": {"format": "csv"}},
        {"name": "csv header", "sql": SQL, "prefix": "csv/ch", "opts": {"format": "csv", "header": True}},
        {"name": "parts", "sql": SQL, "prefix": "parts/p", "opts": {"part_size": 700, "manifest": True}},
        {"name": "zero rows", "sql": "SELECT * FROM empty_t", "prefix": "zero/z", "opts": {}},
        {"name": "params", "sql": "SELECT * FROM hostile WHERE id IN (?, ?) OR c_varchar = ? ORDER BY id",
         "prefix": "params/q", "opts": {"params": [2, "4", None]}},
        {"name": "no result set", "sql": "DO 1", "prefix": "norows/n", "opts": {}},
        {"name": "sql error", "sql": "SELECT * FROM no_such_table", "prefix": "err/e", "opts": {}},
    ]
    # conn:exec with Aurora's INTO OUTFILE S3 clause (the server is not Aurora)
    XCLAUSE = "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n'"
    cases += [
        {"name": "x export", "sql": SQL, "prefix": "xe/x",
         "opts": {"fields_terminated_by": ",", "lines_terminated_by": "\n", "overwrite": True}},
        {"name": "x exec", "exec": True, "sql": f"{SQL} INTO OUTFILE S3 's3://exports/x' {XCLAUSE} OVERWRITE ON"},
        {"name": "x exec again", "exec": True,
         "sql": f"{SQL}\n  into outfile s3 's3://exports/x' {XCLAUSE.lower()} overwrite on; -- again"},
        {"name": "x exec overwrite off", "exec": True,
         "sql": f"{SQL} INTO OUTFILE S3 's3://exports/x' {XCLAUSE} OVERWRITE OFF"},
        {"name": "x exec default overwrite", "exec": True, "sql": f"{SQL} INTO OUTFILE S3 's3://exports/x'"},
        {"name": "x exec params csv", "exec": True, "params": [2, "4", None],
         "sql": "SELECT * FROM hostile WHERE id IN (?, ?) OR c_varchar = ? ORDER BY id "
                "INTO OUTFILE S3 's3://exports/xp/q' FORMAT CSV HEADER MANIFEST ON"},
        {"name": "x export params csv", "sql": "SELECT * FROM hostile WHERE id IN (?, ?) OR c_varchar = ? ORDER BY id",
         "prefix": "xp/e", "opts": {"params": [2, "4", None], "format": "csv", "header": True}},
        {"name": "x clause in a literal", "exec": True,
         "sql": "SELECT 'x INTO OUTFILE S3 ''s3://exports/lit/l''' AS a -- INTO OUTFILE S3 's3://exports/lit/m'"},
        {"name": "x bad clause", "exec": True, "sql": f"{SQL} INTO OUTFILE S3 's3://exports/bad/b' OVERWRITE MAYBE"},
        {"name": "x bad charset", "exec": True,
         "sql": f"{SQL} INTO OUTFILE S3 's3://exports/bad/c' CHARACTER SET latin1"},
    ]
    r, out = run_cases(cases)
    ok(r.returncode == 0, "the export script ran", r.stderr.decode("utf-8", "replace"))

    res = out.get("x exec", {})
    if ok(res.get("ok") and res["affected"] == 5 and res["insert_id"] == 0,
          "exec INTO OUTFILE S3: exported client-side, affected_rows = rows exported", res):
        with open(part_path("x"), "rb") as f:
            mine = f.read()
        with open(part_path("xe/x"), "rb") as f:
            via_export = f.read()
        ok(mine == via_export, "exec INTO OUTFILE S3: the same bytes as conn:export with the same options",
           hexdiff(via_export, mine))
        ok(mine == golden_x, "exec INTO OUTFILE S3: byte-identical to the server's INTO OUTFILE",
           hexdiff(golden_x, mine))
        ok(not os.path.exists(part_path("x", 1)) and not os.path.exists(os.path.join(S3ROOT, BUCKET, "x.manifest")),
           "exec INTO OUTFILE S3: one part, no manifest")
    res = out.get("x exec again", {})
    ok(res.get("ok") and res["affected"] == 5,
       "exec INTO OUTFILE S3 ... overwrite on (lower case, ';', comment) replaces the parts", res)
    res = out.get("x exec overwrite off", {})
    ok(not res.get("ok") and res.get("code") == "AlreadyExists",
       "exec INTO OUTFILE S3 ... OVERWRITE OFF refuses an existing prefix", res)
    res = out.get("x exec default overwrite", {})
    ok(not res.get("ok") and res.get("code") == "AlreadyExists",
       "exec INTO OUTFILE S3 without OVERWRITE refuses an existing prefix (Aurora's default OFF)", res)
    with open(part_path("x"), "rb") as f:
        ok(f.read() == golden_x, "exec: the refused statements left the existing part alone")
    res = out.get("x exec params csv", {})
    if ok(res.get("ok") and res["affected"] == 2, "exec INTO OUTFILE S3 with '?' parameters", res):
        with open(part_path("xp/q"), "rb") as f:
            mine = f.read()
        with open(part_path("xp/e"), "rb") as f:
            via_export = f.read()
        ok(mine == via_export and len(mine) > 0,
           "exec ... FORMAT CSV HEADER with params: the same bytes as conn:export", hexdiff(via_export, mine))
        with open(os.path.join(S3ROOT, BUCKET, "xp/q.manifest")) as f:
            ok(json.load(f) == {"entries": [{"url": f"s3://{BUCKET}/xp/q.part_00000"}]},
               "exec ... MANIFEST ON: the manifest")
    res = out.get("x clause in a literal", {})
    ok(res.get("ok") and res["affected"] == 1 and not os.path.exists(os.path.join(S3ROOT, BUCKET, "lit")),
       "exec: the clause inside a literal or a comment is not a clause (the server runs the SELECT)", res)
    res = out.get("x bad clause", {})
    ok(not res.get("ok") and "INTO OUTFILE S3: OVERWRITE takes ON or OFF" in res.get("message", ""),
       "exec: a malformed clause raises a clear syntax error", res)
    res = out.get("x bad charset", {})
    ok(not res.get("ok") and "CHARACTER SET latin1 is not supported" in res.get("message", ""),
       "exec: an unsupported CHARACTER SET is refused", res)
    ok(not os.path.exists(os.path.join(S3ROOT, BUCKET, "bad")), "exec: refused clauses write nothing")

    for i, (name, opts, _) in enumerate(COMBOS):
        res = out.get(name, {})
        if not ok(res.get("ok"), f"export '{name}' succeeded", res):
            continue
        with open(part_path(f"golden/g{i}"), "rb") as f:
            mine = f.read()
        ok(mine == golden[i], f"golden: '{name}' is byte-identical to the server's INTO OUTFILE",
           hexdiff(golden[i], mine))
        ok(res["rows"] == 5 and res["bytes"] == len(mine) and
           res["parts"] == [f"s3://{BUCKET}/golden/g{i}.part_00000"], f"'{name}' returns rows, bytes and parts", res)

    # header: the names, then what the server writes
    names = b"\t".join(n.encode() for n in ["id"] + [n for n, _ in TYPES + TYPES_LONG]) + b"\n"
    with open(part_path("header/h"), "rb") as f:
        ok(f.read() == names + golden[0], "header=true: the column names, then the server's rows")

    # CSV back through Python's csv module equals the rows (the server's text)
    with root_conn(SENV, use_unicode=False, conv={}) as rc:
        c = rc.cursor()
        c.execute(SQL)
        want = [[b"" if v is None else v for v in row] for row in c.fetchall()]
    with open(part_path("csv/c"), "rb") as f:
        raw = f.read()
    got = [[v.encode("latin-1") for v in row] for row in csv.reader(io.StringIO(raw.decode("latin-1"), newline=""))]
    ok(got == want, "csv: read back with Python's csv module equals the rows", f"got {got[:2]!r}\nwant {want[:2]!r}")
    first = raw.split(b"\n", 1)[0]
    ok(first == b"1" + b"," * (len(want[0]) - 1), "csv: NULL is an empty unquoted field", first[:80])
    ok(b',"",' in raw, "csv: an empty string is \"\"")
    with open(part_path("csv/ch"), "rb") as f:
        rows = list(csv.reader(io.StringIO(f.read().decode("latin-1"), newline="")))
    ok(rows[0] == ["id"] + [n for n, _ in TYPES + TYPES_LONG] and len(rows) == 6, "csv header=true: names first")

    # parts: split at row boundaries, concatenation equals the single file
    res = out.get("parts", {})
    ok(res.get("ok") and len(res["parts"]) > 2, "part_size=700: several parts", res)
    if res.get("ok"):
        blobs = []
        for i in range(len(res["parts"])):
            with open(part_path("parts/p", i), "rb") as f:
                blobs.append(f.read())
        ok(b"".join(blobs) == golden[0], "parts: their concatenation equals the server's file")
        ok(all(b.endswith(b"\n") for b in blobs), "parts: every part ends at a row boundary")
        ok(all(len(b) >= 700 for b in blobs[:-1]), "parts: a new part starts only once part_size is reached")
        ok(not os.path.exists(part_path("parts/p", len(blobs))), "parts: no extra part")
        with open(os.path.join(S3ROOT, BUCKET, "parts/p.manifest")) as f:
            m = json.load(f)
        ok(m == {"entries": [{"url": u} for u in res["parts"]]}, "manifest: Aurora's {entries:[{url:}]} shape", m)

    res = out.get("zero rows", {})
    ok(res.get("ok") and res["rows"] == 0 and len(res["parts"]) == 1 and os.path.getsize(part_path("zero/z")) == 0,
       "zero rows: one empty part_00000", res)

    res = out.get("params", {})
    if ok(res.get("ok") and res["rows"] == 2, "'?' params: rows selected by bound values", res):
        with root_conn(SENV) as rc:
            golden_p = server_outfile(rc.cursor(), os.path.join(OUTDIR, "params.txt"), "", "WHERE id IN (2, 4)")
        with open(part_path("params/q"), "rb") as f:
            mine = f.read()
        ok(mine == golden_p,
           "'?' params: rows 2 and 4, formatted as the server's", mine[:100])

    res = out.get("no result set", {})
    ok(not res.get("ok") and "no result set" in res.get("message", ""), "a statement without rows is refused", res)
    res = out.get("sql error", {})
    ok(not res.get("ok") and res.get("code") == "42S02", "a SQL error raises with the SQLSTATE", res)
    ok(not os.path.exists(os.path.join(S3ROOT, BUCKET, "err")) or not os.listdir(os.path.join(S3ROOT, BUCKET, "err")),
       "a failed export writes nothing")

    # overwrite: refused by default; replaced with overwrite=true, stale parts removed
    before = {p: open(os.path.join(S3ROOT, BUCKET, "parts", p), "rb").read()
              for p in os.listdir(os.path.join(S3ROOT, BUCKET, "parts"))}
    r, out = run_cases([
        {"name": "refuse", "sql": SQL, "prefix": "parts/p", "opts": {}},
        {"name": "replace", "sql": SQL, "prefix": "parts/p", "opts": {"overwrite": True}},
    ])
    res = out.get("refuse", {})
    ok(not res.get("ok") and res.get("code") == "AlreadyExists", "overwrite=false refuses existing parts", res)
    res = out.get("replace", {})
    after = sorted(os.listdir(os.path.join(S3ROOT, BUCKET, "parts")))
    ok(res.get("ok") and after == ["p.part_00000"], "overwrite=true replaces, removes stale parts and manifest",
       f"{res}\n{after}")
    with open(part_path("parts/p"), "rb") as f:
        ok(f.read() == golden[0], "overwrite=true: the new part holds the whole result")
    ok(len(before) > 2, "(there were several parts before)")

    # usage errors
    r, out = run_cases([
        {"name": "bad format", "sql": SQL, "prefix": "u/a", "opts": {"format": "xml"}},
        {"name": "fixed width", "sql": SQL, "prefix": "u/b", "opts": {"fields_terminated_by": ""}},
        {"name": "two-char enclosure", "sql": SQL, "prefix": "u/c", "opts": {"fields_enclosed_by": "ab"}},
        {"name": "unknown option", "sql": SQL, "prefix": "u/d", "opts": {"partsize": 1}},
    ])
    for name in ["bad format", "fixed width", "two-char enclosure", "unknown option"]:
        res = out.get(name, {})
        ok(not res.get("ok") and "bad argument" in res.get("message", ""), f"usage error: {name}", res)

    sigterm_test()
    sigterm_test_s3_server()
    overwrite_test_s3_server()


LONG_EXPORT = """
local conn <close> = db.connect{ host = os.getenv("MYSQL_HOST"), port = math.tointeger(tonumber(os.getenv("MYSQL_PORT"))),
  user = os.getenv("MYSQL_PW_USER"), password = os.getenv("MYSQL_PW_PASSWORD"),
  database = os.getenv("MYSQL_DATABASE") }
conn:export("SELECT seq, REPEAT('x', 200) FROM seq_1_to_1000000000", "s3://exports/long/l", { part_size = 65536 })
"""


def sigterm_test_s3_server():
    """The same against the S3 test server over HTTP: the open part is aborted
    and the parts already completed are deleted, although the process is stopping."""
    s3dir = os.path.join(TMP, "s3server")
    s3env = bqtest.start_server(bqtest.S3_SERVER, s3dir, "--bucket", BUCKET, timeout=180)
    if not ok(s3env is not None, "SIGTERM over HTTP: the S3 test server starts"):
        return
    lua = os.path.join(TMP, "long_s3.lua")
    with open(lua, "w") as f:
        f.write(LONG_EXPORT)
    env = bqtest.clean_env({**SENV, "AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                            "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
                            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    p = subprocess.Popen([BQLUA, "--endpoint", s3env["S3_ENDPOINT"], lua], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def completed_parts():
        n = 0
        try:
            for line in open(s3env["S3_REQUEST_LOG"]):
                rec = json.loads(line)
                if rec.get("method") == "PUT" and rec.get("status") == 200 and \
                        (rec.get("key") or "").startswith("long/l.part_"):
                    n += 1
        except OSError:
            pass
        return n

    deadline = time.time() + 60
    while time.time() < deadline and completed_parts() < 3 and p.poll() is None:
        time.sleep(0.05)
    ok(completed_parts() >= 3, "SIGTERM over HTTP: parts were being uploaded", completed_parts())
    p.send_signal(signal.SIGTERM)
    rc, _, err, _ = bqtest.finish(p, 30)
    ok(rc == 143, f"SIGTERM over HTTP: bqlua exits 143 (got {rc})", err[-2000:])
    aws_env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"], AWS_DEFAULT_REGION="us-east-1")
    lst = subprocess.run(["/usr/bin/aws", "--endpoint-url", s3env["S3_ENDPOINT"], "s3api", "list-objects-v2",
                          "--bucket", BUCKET, "--prefix", "long/"], env=aws_env, capture_output=True)
    keys = [o["Key"] for o in json.loads(lst.stdout or b"{}").get("Contents", [])]
    ok(lst.returncode == 0 and keys == [], "SIGTERM over HTTP: no object is left at the prefix",
       (lst.returncode, keys, lst.stderr.decode()))
    mpu = subprocess.run(["/usr/bin/aws", "--endpoint-url", s3env["S3_ENDPOINT"], "s3api",
                          "list-multipart-uploads", "--bucket", BUCKET], env=aws_env, capture_output=True)
    ups = json.loads(mpu.stdout or b"{}").get("Uploads", [])
    ok(mpu.returncode == 0 and ups == [], "SIGTERM over HTTP: no multipart upload is left open",
       (mpu.returncode, ups, mpu.stderr.decode()))


def overwrite_test_s3_server():
    """overwrite=true against the S3 test server: the listing of what is at the
    prefix runs beside the query, yet nothing is written before it has
    answered; a failed listing fails the export before anything is written;
    keys that are neither parts nor the manifest are left alone."""
    s3dir = os.path.join(TMP, "s3ow")
    faults = os.path.join(TMP, "s3ow-faults.json")
    s3env = bqtest.start_server(bqtest.S3_SERVER, s3dir, "--bucket", BUCKET, "--faults", faults, timeout=180)
    if not ok(s3env is not None, "overwrite over HTTP: the S3 test server starts"):
        return
    aws_env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"], AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*a):
        return subprocess.run(["/usr/bin/aws", "--endpoint-url", s3env["S3_ENDPOINT"], *a], env=aws_env,
                              capture_output=True)

    def keys():
        r = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "ow/")
        return sorted(o["Key"] for o in json.loads(r.stdout or b"{}").get("Contents", []))

    def requests():
        with open(s3env["S3_REQUEST_LOG"]) as f:
            return [json.loads(line) for line in f]

    def faults_set(rules):
        with open(faults + ".tmp", "w") as f:
            json.dump({"rules": rules}, f)
        os.replace(faults + ".tmp", faults)

    def when(rec):      # (start, end) of a logged request, in seconds
        t = time.mktime(time.strptime(rec["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + rec["time"][19:-1])
        return t - rec["ms"] / 1000, t

    before = ["ow/p.manifest", "ow/p.other", "ow/p.part_00000", "ow/p.part_00001", "ow/p.part_00002",
              "ow/px.part_00000"]
    for k in before:
        aws("s3api", "put-object", "--bucket", BUCKET, "--key", k, "--body", CASES_LUA)
    ok(keys() == before, "overwrite over HTTP: the prefix holds old parts, a manifest and two unrelated keys", keys())
    # ~10 MiB: more than the writer's first 8 MiB piece, so the listing is
    # waited for before the multipart upload starts, not only at the end
    sql = "SELECT seq, REPEAT('x', 100) FROM seq_1_to_100000"

    r, out = run_cases([{"name": "refuse", "sql": sql, "prefix": "ow/p", "opts": {}}], s3env=s3env)
    res = out.get("refuse", {})
    ok(not res.get("ok") and res.get("code") == "AlreadyExists" and "(4 objects" in res.get("message", ""),
       "overwrite=false over HTTP: refused, counting the 3 parts and the manifest only", res)

    # a listing that fails: the export fails before writing anything
    faults_set([{"op": "ListObjectsV2", "status": 403, "code": "AccessDenied"}])
    n0 = len(requests())
    r, out = run_cases([{"name": "denied", "sql": sql, "prefix": "ow/p", "opts": {"overwrite": True}}], s3env=s3env)
    res = out.get("denied", {})
    ok(not res.get("ok") and res.get("code") == "AccessDenied", "overwrite=true: a denied listing fails the export",
       (res, r.stderr.decode()[-2000:]))
    writes = [q["op"] for q in requests()[n0:] if q.get("method") in ("PUT", "POST", "DELETE")]
    faults_set([])      # (keys() lists too)
    ok(writes == [] and keys() == before, "overwrite=true: after a denied listing nothing was written or deleted",
       (writes, keys()))

    # a slow listing: the export waits for it before its first write
    faults_set([{"op": "ListObjectsV2", "action": "stall", "seconds": 1.5}])
    n0 = len(requests())
    r, out = run_cases([{"name": "replace", "sql": sql, "prefix": "ow/p", "opts": {"overwrite": True}}],
                       s3env=s3env)
    res = out.get("replace", {})
    ok(res.get("ok") and res.get("rows") == 100000, "overwrite=true over HTTP: the export succeeds",
       (res, r.stderr.decode()[-2000:]))
    log = requests()[n0:]
    lists = [q for q in log if q["op"] == "ListObjectsV2"]
    writes = [q for q in log if q.get("method") in ("PUT", "POST", "DELETE")]
    ok(len(lists) == 1 and lists[0]["status"] == 200 and "prefix=ow%2Fp.&" in lists[0]["query"] + "&",
       "overwrite=true: one listing, of the prefix 'ow/p.'", [(q["query"], q["status"]) for q in lists])
    ok(lists and writes and writes[0]["op"] == "CreateMultipartUpload" and
       all(when(w)[0] >= when(lists[0])[1] - 0.01 for w in writes),
       "overwrite=true: the multipart upload starts after the listing has answered",
       [(q["op"], q["time"], q["ms"]) for q in lists + writes])
    ok(keys() == ["ow/p.other", "ow/p.part_00000", "ow/px.part_00000"],
       "overwrite=true: stale parts and manifest deleted, the other keys kept", keys())
    got = aws("s3", "cp", f"s3://{BUCKET}/ow/p.part_00000", "-")
    ok(got.returncode == 0 and got.stdout.count(b"\n") == 100000 and got.stdout.startswith(b"1\t" + b"x" * 100 + b"\n"),
       "overwrite=true: the new part holds the rows", got.stdout[:120])

    # S3 refuses a part in the middle of a long export: the export fails at
    # once, without reading the rest of the query (a billion rows), and the
    # connection it gave up says so when used again
    faults_set([{"op": "PutObject", "skip": 2, "status": 403, "code": "AccessDenied"}])
    lua = os.path.join(TMP, "denied_part.lua")
    with open(lua, "w") as f:
        f.write(LONG_EXPORT.replace("conn:export(", "local okk, e = pcall(conn.export, conn, ").replace(
            "{ part_size = 65536 })", "{ part_size = 65536 })\n") + """
print(json.encode{ ok = okk, code = type(e) == "table" and e.code or tostring(e) })
local ok2, e2 = pcall(conn.exec, conn, "SELECT 1")
print(json.encode{ ok = ok2, message = type(e2) == "table" and e2.message or tostring(e2) })
local c2 <close> = db.connect{ host = os.getenv("MYSQL_HOST"), port = math.tointeger(tonumber(os.getenv("MYSQL_PORT"))),
  user = os.getenv("MYSQL_PW_USER"), password = os.getenv("MYSQL_PW_PASSWORD"), database = os.getenv("MYSQL_DATABASE") }
print(json.encode{ ok = true, one = c2:query("SELECT 1 AS one")[1].one })
""")
    env = bqtest.clean_env({**SENV, "AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                            "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
                            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    try:
        r = subprocess.run([BQLUA, "--endpoint", s3env["S3_ENDPOINT"], lua], env=env, capture_output=True,
                           timeout=120)
        lines = [json.loads(x) for x in r.stdout.decode().splitlines() if x.startswith("{")]
        err = r.stderr.decode()
    except subprocess.TimeoutExpired as e:
        lines, err = [], f"still running after 120 s (reading the whole query?) {e.stderr!r}"[-2000:]
    ok(len(lines) == 3 and lines[0] == {"ok": False, "code": "AccessDenied"},
       "a part S3 refuses fails a long export at once", (lines, err[-2000:]))
    ok("connection is given up" in err, "the export warns that it gave the connection up", err[-2000:])
    ok(len(lines) == 3 and not lines[1]["ok"] and "interrupted" in lines[1]["message"],
       "the connection given up refuses further statements", lines)
    ok(len(lines) == 3 and lines[2] == {"ok": True, "one": 1}, "a new connection works", lines)
    faults_set([])
    lst = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "long/")
    mpu = aws("s3api", "list-multipart-uploads", "--bucket", BUCKET)
    ok(lst.returncode == 0 and json.loads(lst.stdout or b"{}").get("Contents", []) == [] and
       mpu.returncode == 0 and json.loads(mpu.stdout or b"{}").get("Uploads", []) == [],
       "after the refused part: no object and no multipart upload left", (lst.stdout[:500], mpu.stdout[:500]))


def sigterm_test():
    """SIGTERM while parts are being written: nothing is left at the prefix."""
    lua = os.path.join(TMP, "long.lua")
    with open(lua, "w") as f:
        f.write(LONG_EXPORT)
    p = subprocess.Popen([BQLUA, "--s3-root", S3ROOT, lua], env=bqtest.clean_env(SENV), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    d = os.path.join(S3ROOT, BUCKET, "long")
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.isdir(d) and sum(1 for n in os.listdir(d) if n.startswith("l.part_")) >= 3:
            break
        time.sleep(0.05)
    seen = sorted(os.listdir(d)) if os.path.isdir(d) else []
    ok(len([n for n in seen if n.startswith("l.part_")]) >= 3, "SIGTERM: parts were being written", seen)
    p.send_signal(signal.SIGTERM)
    rc, _, err, _ = bqtest.finish(p, 30)
    ok(rc == 143, f"SIGTERM: bqlua exits 143 (got {rc})", err)
    left = []
    for root, _, files in os.walk(os.path.join(S3ROOT, BUCKET)):
        left += [os.path.join(root, n) for n in files if "long" in os.path.join(root, n)]
    ok(left == [], "SIGTERM: nothing is left at the prefix (open part aborted, finished parts deleted)", left)


try:
    main()
except Exception:
    import traceback
    ok(False, "the driver raised", traceback.format_exc())
finally:
    bqtest.cleanup(TMP)
sys.exit(bqtest.done())
