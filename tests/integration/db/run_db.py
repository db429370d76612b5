#!/usr/bin/python3
"""TAP driver for the db and rds bindings against real MariaDB servers.

Usage: run_db.py BQLUA

Starts a TLS server and a --no-tls server with scripts/mariadb-test-server.sh
in a temporary directory, runs the Lua test scripts beside this file with
BQLUA (env from DIR/env), and checks from here what a script cannot see:
rds.token against botocore's pure-Python signer, what the token verifier
received, bounded memory over a million rows, and SIGTERM during long waits.
Run as root with Debian's /usr/bin/python3 (botocore). Stops what it started.
"""

import datetime
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

os.environ["BOTO_DISABLE_CRT"] = "true"  # botocore's pure-Python signer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

try:
    import botocore.auth
    import botocore.session
except ImportError as e:
    bqtest.import_failed("botocore", e)

BQLUA, = bqtest.args("BQLUA")
SANITIZED = "libasan" in subprocess.run(["ldd", BQLUA], capture_output=True, text=True).stdout
TMP = tempfile.mkdtemp(prefix="bqlua-db-")
bqtest.cleanup_on_signals(TMP)


def start_server(name, *extra):
    d = os.path.join(TMP, name)
    env = bqtest.start_server(bqtest.MARIADB_SERVER, d, *extra)
    return d, env or bqtest.bail(f"cannot start the {name} server")


def base_env(server_env, **extra):
    """A clean environment: no ambient AWS configuration, no IMDS (no traffic
    leaves loopback), the server's keys, then extra (None removes a key)."""
    return bqtest.clean_env({**server_env,
                             "AWS_EC2_METADATA_DISABLED": "true",
                             "AWS_CONFIG_FILE": os.path.join(TMP, "no-aws-config"),
                             "AWS_SHARED_CREDENTIALS_FILE": os.path.join(TMP, "no-aws-credentials"),
                             "AWS_ACCESS_KEY_ID": server_env.get("AWS_ACCESS_KEY_ID_IAM_TEST", ""),
                             "AWS_SECRET_ACCESS_KEY": server_env.get("AWS_SECRET_ACCESS_KEY_IAM_TEST", ""),
                             **extra})


def run_bqlua(args, env, timeout=300, cwd=None):
    return subprocess.run([BQLUA, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def run_lua_file(name, env, args=()):
    """Runs a Lua test script; its 'ok - X' / 'not ok - X' lines become TAP."""
    path = os.path.join(HERE, name)
    r = subprocess.run([BQLUA, *args, path], env=env, capture_output=True, text=True, timeout=600)
    count = 0
    pending = None
    for line in r.stdout.splitlines():
        if line.startswith("ok - ") or line.startswith("not ok - "):
            if pending:
                ok(*pending)
            good = line.startswith("ok - ")
            pending = [good, f"{name}: {line.split(' - ', 1)[1]}", ""]
            count += 1
        elif line.startswith("# ") and pending and not pending[0]:
            pending[2] += line[2:] + "\n"
    if pending:
        ok(*pending)
    ok(r.returncode == 0 and count > 0, f"{name}: the script ran to the end ({count} checks)",
       f"exit {r.returncode}\n{r.stderr[-3000:]}")
    ok("runtime error:" not in r.stderr and "Sanitizer" not in r.stderr, f"{name}: no sanitizer report",
       r.stderr[-3000:])


# --- a listener that accepts and never speaks -----------------------------------------
class SilentServer:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


# --- botocore's token at a given time -----------------------------------------------
def botocore_token(host, port, user, region, akid, secret, session_token, at):
    s = botocore.session.Session()
    s.set_credentials(akid, secret, session_token)
    client = s.create_client("rds", region_name=region)
    with bqtest.pure_signer(), bqtest.frozen_clock(at):
        return client.generate_db_auth_token(host, port, user, Region=region)


def token_time(token):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit("https://" + token).query)
    return datetime.datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")


def lua_str(s):
    """A Lua string literal for s (every byte as a decimal escape)."""
    return "'" + "".join(f"\\{b:03d}" for b in s.encode()) + "'"


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def main():
    tls_dir, tls = start_server("tls")
    plain_dir, plain = start_server("plain", "--no-tls")
    bqtest.note(f"servers: tls {tls['MYSQL_PORT']}, plain {plain['MYSQL_PORT']}")
    env = base_env(tls)

    # --- rds.token: byte-identical to botocore at the same second --------------------
    akid, secret = tls["AWS_ACCESS_KEY_ID_IAM_TEST"], tls["AWS_SECRET_ACCESS_KEY_IAM_TEST"]
    takid, tsecret, ttoken = (tls["AWS_ACCESS_KEY_ID_IAM_TEST_TEMP"], tls["AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP"],
                              tls["AWS_SESSION_TOKEN_IAM_TEST_TEMP"])
    cases = [
        ("long-term keys", "db.example.us-east-1.rds.amazonaws.com", 3306, "bq_iam", "us-east-1", None),
        ("session token", "db.example.us-east-1.rds.amazonaws.com", 3306, "bq_iam", "us-east-1", ttoken),
        ("user needing percent-encoding", "127.0.0.1", 13306, "user name/ü+%=&?", "eu-west-1", None),
        ("encoded user with session token", "aurora.cluster-x.eu-central-1.rds.amazonaws.com", 5432,
         "a b~c*d", "eu-central-1", ttoken),
    ]
    for name, host, port, user, region, st in cases:
        k, s = (takid, tsecret) if st else (akid, secret)
        e = base_env(tls, AWS_ACCESS_KEY_ID=k, AWS_SECRET_ACCESS_KEY=s, AWS_SESSION_TOKEN=st)
        code = f"print(rds.token{{host={lua_str(host)}, port={port}, user={lua_str(user)}, region={lua_str(region)}}})"
        r = run_bqlua(["-e", code], e)
        tok = r.stdout.rstrip("\n")
        if not ok(r.returncode == 0 and tok, f"rds.token ({name}) runs", r.stderr):
            continue
        want = botocore_token(host, port, user, region, k, s, st, token_time(tok))
        ok(tok == want, f"rds.token ({name}) equals botocore's token for the same second",
           f"bqlua:    {tok}\nbotocore: {want}")
        ok(s not in r.stdout + r.stderr, f"rds.token ({name}) does not print the secret key")
    # defaults: port 3306, region from --region and from AWS_REGION
    r = run_bqlua(["--region", "ap-south-1", "-e", "print(rds.token{host='h.example', user='u'})"], env)
    tok = r.stdout.strip()
    ok(r.returncode == 0 and tok == botocore_token("h.example", 3306, "u", "ap-south-1", akid, secret, None,
                                                   token_time(tok) if tok else None),
       "rds.token: port defaults to 3306, region to --region", r.stdout + r.stderr)
    r = run_bqlua(["-e", "print(rds.token{host='h.example', user='u'})"], base_env(tls, AWS_REGION="sa-east-1"))
    ok(r.returncode == 0 and "%2Fsa-east-1%2Frds-db%2F" in r.stdout, "rds.token: region from AWS_REGION", r.stderr)
    r = run_bqlua(["-e", "print(rds.token{host='h.example', user='u'})"], env)
    ok(r.returncode == 1 and "bad argument" in r.stderr and "region is required" in r.stderr,
       "rds.token without any region: a clear bad argument", r.stderr)
    for bad, what in [("{host='h', user='u', region='r', nope=1}", "unknown option"),
                      ("{user='u', region='r'}", "'host' is required"),
                      ("{host='h', region='r'}", "'user' is required"),
                      ("{host='h', user='u', region='r', port=0}", "port"),
                      ("{host='h', user='u', region='r', port=3306.5}", "port"),
                      ("'h'", "table expected")]:
        r = run_bqlua(["-e", f"print(rds.token{bad})" if bad.startswith("{") else f"print(rds.token({bad}))"], env)
        ok(r.returncode == 1 and "bad argument" in r.stderr and what in r.stderr,
           f"rds.token{bad}: bad argument ({what})", r.stderr)
    r = run_bqlua(["-e", "print(rds.token{host='h', user='u', region='us-east-1'})"],
                  base_env(tls, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None))
    ok(r.returncode == 1 and "CredentialsError" in r.stderr, "rds.token without credentials: CredentialsError",
       r.stderr)
    # Credentials expiring within 15 minutes are refreshed first (container endpoint).
    token_refresh_test(tls)

    # --- Lua test scripts against the TLS server ----------------------------------------
    silent = SilentServer()
    try:
        run_lua_file("types.lua", env)
        run_lua_file("api.lua", env)
        run_lua_file("connect.lua", base_env(tls, HANG_PORT=str(silent.port), CLOSED_PORT=str(closed_port())))
    finally:
        silent.close()

    # --- the client plugin directory ----------------------------------------------------
    iam_code = ("local ok, e = pcall(db.connect, {host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
                " user='bq_iam', iam=true, ssl_ca=os.getenv('MYSQL_CA'), region='us-east-1'})"
                " print(ok, type(e) == 'table' and e.message or tostring(e))")
    r = run_bqlua(["-e", iam_code], base_env(tls, MARIADB_PLUGIN_DIR=os.path.join(TMP, "no-plugins")))
    ok("false" in r.stdout and "mysql_clear_password" in r.stdout and os.path.join(TMP, "no-plugins") in r.stdout
       and "MARIADB_PLUGIN_DIR" in r.stdout,
       "a missing mysql_clear_password plugin names the plugin directory", r.stdout + r.stderr)

    # --- IAM against a server without TLS: refused before the token leaves -----------
    penv = base_env(plain)
    log = plain["MYSQL_IAM_VERIFIER_LOG"]
    for label, extra in [("ssl_ca absent (system store)", ""), ("ssl_verify=true", ", ssl_verify=true")]:
        mark = file_size(log)
        code = ("local ok, e = pcall(db.connect, {host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
                f" user='bq_iam', iam=true, region='us-east-1'{extra}}})"
                " print(ok, type(e) == 'table' and e.message or tostring(e))")
        r = run_bqlua(["-e", code], penv)
        ok(r.stdout.startswith("false") and "SSL is required" in r.stdout,
           f"iam=true against a server without TLS ({label}) is refused with a clear error", r.stdout + r.stderr)
        time.sleep(0.3)
        ok(read_from(log, mark).strip() == "", f"iam=true without TLS ({label}): the verifier received no token",
           read_from(log, mark))
    # Password users with ssl_ca against the plain server: refused too, the password never sent.
    code = ("local ok, e = pcall(db.connect, {host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
            " user=os.getenv('MYSQL_PW_USER'), password=os.getenv('MYSQL_PW_PASSWORD'), ssl_ca='/etc/ssl/certs/ca-certificates.crt'})"
            " print(ok, type(e) == 'table' and e.message or tostring(e))")
    r = run_bqlua(["-e", code], penv)
    ok(r.stdout.startswith("false") and "SSL is required" in r.stdout,
       "a password login with ssl_ca against a server without TLS is refused", r.stdout + r.stderr)
    # Control: a client that does send the token in clear is seen by the verifier,
    # so the empty log above means something.
    r = run_bqlua(["-e", "print(rds.token{host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))), user='bq_iam', region='us-east-1'})"], penv)
    tok = r.stdout.strip()
    mark = file_size(log)
    subprocess.run(["mariadb", "--enable-cleartext-plugin", "--skip-ssl", "-h", plain["MYSQL_HOST"], "-P",
                    plain["MYSQL_PORT"], "-u", "bq_iam", f"-p{tok}", "-e", "SELECT 1"],
                   capture_output=True, text=True, timeout=60)
    time.sleep(0.3)
    ok("ACCEPTED" in read_from(log, mark), "control: a cleartext client's token does reach the verifier",
       read_from(log, mark))

    # --- memory stays flat over a million streamed rows ---------------------------------
    big = ("SELECT seq AS id, seq * 1.5 AS d, CONCAT('row-', seq, '-', REPEAT('x', seq % 50)) AS s,"
           " NOW() AS t, IF(seq % 7 = 0, NULL, seq) AS n, CAST(seq AS DECIMAL(20,4)) AS dec4 FROM seq_1_to_1000000")
    for label, where in [("text protocol", ""), ("prepared", "?")]:
        sql = big + (" WHERE seq > ?" if where else "")
        args = ", 0" if where else ""
        code = (f"local c = db.connect{{host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
                f" user=os.getenv('MYSQL_PW_USER'), password=os.getenv('MYSQL_PW_PASSWORD'), database=os.getenv('MYSQL_DATABASE')}}"
                f" local n, nulls = 0, 0 for row in c:rows({lua_str(sql)}{args}) do n = n + 1"
                f" if row.n == db.null then nulls = nulls + 1 end end print(n, nulls)")
        t0 = time.monotonic()
        rss_file = os.path.join(TMP, "rss")
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, BQLUA, "--memory-limit", "32M", "-e", code],
                           env=env, capture_output=True, text=True, timeout=600)
        out, err = p.stdout, p.stderr
        with open(rss_file) as f:
            rss_kib = int(f.read().split()[-1])
        ok(p.returncode == 0 and out.split() == ["1000000", "142857"],
           f"rows() over 1e6 rows with --memory-limit 32M completes ({label}, {time.monotonic() - t0:.1f} s)",
           out + err)
        name = f"rows() over 1e6 rows: peak RSS {rss_kib / 1024:.1f} MiB stays flat ({label})"
        if SANITIZED:
            ok(True, f"{name} # SKIP sanitizer build (shadow memory, quarantine)")
        else:
            ok(rss_kib < 64 * 1024, name)
    code = (f"local c = db.connect{{host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
            f" user=os.getenv('MYSQL_PW_USER'), password=os.getenv('MYSQL_PW_PASSWORD'), database=os.getenv('MYSQL_DATABASE')}}"
            f" print(#c:query({lua_str(big)}))")
    r = run_bqlua(["--memory-limit", "32M", "-e", code], env)
    ok(r.returncode == 4 and "memory" in r.stderr, "query() of 1e6 rows hits the 32M Lua heap cap (exit 4)",
       f"exit {r.returncode}: {r.stderr[-500:]}")

    # --- SIGTERM during long waits ------------------------------------------------------
    conn = ("local c = db.connect{host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))),"
            " user=os.getenv('MYSQL_PW_USER'), password=os.getenv('MYSQL_PW_PASSWORD'), database=os.getenv('MYSQL_DATABASE')} log.warn('ready') ")
    waits = [
        ("a long query (SLEEP)", conn + "c:query('SELECT SLEEP(60)')"),
        ("a long prepared query", conn + "c:query('SELECT SLEEP(?)', 60)"),
        ("a rows() loop", conn + "for row in c:rows('SELECT a.seq FROM seq_1_to_100000 a, seq_1_to_100000 b') do end"),
        ("a connect to a silent server", None),
    ]
    silent = SilentServer()
    try:
        for label, code in waits:
            if code is None:
                code = (f"log.warn('ready') db.connect{{host='127.0.0.1', port={silent.port}, user='u', password='p',"
                        " connect_timeout=60}")
            p = subprocess.Popen([BQLUA, "-e", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = p.stderr.readline()
            time.sleep(1.0)
            p.send_signal(signal.SIGTERM)
            rc, out, err, took = bqtest.finish(p, 20)
            ok("ready" in first and rc == 143 and took < 2.5,
               f"SIGTERM during {label}: exit 143 in {took:.2f} s", f"exit {rc}\n{err[-1500:]}")
    finally:
        silent.close()



def token_refresh_test(tls):
    """Credentials that expire within 15 minutes are refreshed before signing:
    a local container-credentials endpoint hands out credentials expiring in
    10 minutes first, then fresh ones; the token must be signed with the second."""
    import http.server
    import json

    served = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            n = len(served)
            served.append(self.path)
            exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10 if n == 0 else 60)
            body = json.dumps({
                "AccessKeyId": f"ASIAREFRESH{n}",
                "SecretAccessKey": f"secret{n}",
                "Token": f"token{n}",
                "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        env = base_env(tls, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                       AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{srv.server_address[1]}/creds")
        # The first token can only use the first credentials (the chain reuses an
        # answer younger than 5 s); after that, a token must not be signed with
        # credentials that have less than 15 minutes left.
        r = run_bqlua(["-e", "print(rds.token{host='h.example', user='u', region='us-east-1'})"
                             " task.sleep(5.5)"
                             " print(rds.token{host='h.example', user='u', region='us-east-1'})"], env)
        toks = r.stdout.split()
        ok(r.returncode == 0 and len(toks) == 2 and "ASIAREFRESH0" in toks[0] and "ASIAREFRESH1" in toks[1],
           "rds.token: credentials expiring within 15 minutes are refreshed first",
           f"served {served}\n{r.stdout}{r.stderr}")
    finally:
        srv.shutdown()
        srv.server_close()


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a crash of the driver is a failure, not a pass
        import traceback
        ok(False, "the driver ran to the end", traceback.format_exc())
    finally:
        bqtest.cleanup(TMP)
    sys.exit(bqtest.done())
