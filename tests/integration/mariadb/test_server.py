#!/usr/bin/python3
"""TAP test of scripts/mariadb-test-server.sh: TLS, password users, the RDS IAM
emulation (PAM + rds_token_verifier.py) and the --no-tls mode.

Run as root with Debian's /usr/bin/python3 (botocore, pymysql). Starts its
own servers in a temporary directory and stops them at the end.
"""

import contextlib
import datetime
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

SCRIPT = bqtest.MARIADB_SERVER
VERIFIER = os.path.join(HERE, "rds_token_verifier.py")

try:
    import botocore.auth
    import botocore.session
    import pymysql
except ImportError as e:  # a missing dependency is a failure, not a skip
    bqtest.import_failed("botocore/pymysql", e)

TMP = tempfile.mkdtemp(prefix="bqlua-mdb-")
bqtest.cleanup_on_signals(TMP)


def start(name, *extra):
    d = os.path.join(TMP, name)
    t0 = time.monotonic()
    env = bqtest.start_server(SCRIPT, d, *extra, timeout=90)
    took = time.monotonic() - t0
    if env is None:
        ok(False, f"start {name} {' '.join(extra)}")
        bqtest.bail(f"server {name} did not start")
    ok(took < 15, f"start {name} {' '.join(extra)} took {took:.1f} s (< 15 s)")
    return d, env


def mariadb(env, user, password, *opts, sql="SELECT 1", port=None, extra_env=None):
    cmd = ["mariadb", "--no-defaults", "--batch", "--skip-column-names", "--connect-timeout=10",
           "-h", "127.0.0.1", "-P", str(port or env["MYSQL_PORT"]), "-u", user, *opts]
    if password is not None:
        cmd.append(f"--password={password}")
    cmd += ["bqtest", "-e", sql]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # MariaDB's client always allows the cleartext plugin and prints, on
    # stdout, that --enable-cleartext-plugin is obsolete.
    out = "".join(l for l in r.stdout.splitlines(True) if not l.startswith("WARNING: option '--enable-cleartext-plugin'"))
    return r.returncode, out, r.stderr


def tls_opts(ca):
    return [f"--ssl-ca={ca}", "--ssl-verify-server-cert"]


def make_token(host, port, user, akid, secret, session_token=None, region="us-east-1", at=None, pure=False):
    """A token from botocore's generate_db_auth_token. pure=True forces the
    pure-Python SigV4QueryAuth (Debian's botocore otherwise uses awscrt when
    python3-awscrt is installed)."""
    s = botocore.session.Session()
    s.set_credentials(akid, secret, session_token)
    client = s.create_client("rds", region_name=region)
    with contextlib.ExitStack() as patches:
        if pure:
            patches.enter_context(bqtest.pure_signer())
        if at is not None:
            patches.enter_context(bqtest.frozen_clock(at))
        return client.generate_db_auth_token(host, port, user, Region=region)


def verifier_log_tail(d, mark):
    with open(os.path.join(d, "verifier.log")) as f:
        f.seek(mark)
        return f.read()


def log_size(d):
    return os.path.getsize(os.path.join(d, "verifier.log"))


def main():
    if os.geteuid() != 0:
        print("1..1")
        print("not ok 1 - must run as root (the server installs a PAM service)")
        return 1

    d, env = start("tls")
    d0, env0 = start("plain", "--no-tls")
    port = int(env["MYSQL_PORT"])
    ca, wrong = env["MYSQL_CA"], env["MYSQL_WRONG_CA"]
    akid, secret = env["AWS_ACCESS_KEY_ID_IAM_TEST"], env["AWS_SECRET_ACCESS_KEY_IAM_TEST"]

    # --- env file
    want = ["MYSQL_HOST", "MYSQL_PORT", "MYSQL_SOCKET", "MYSQL_PID", "MYSQL_CA", "MYSQL_WRONG_CA",
            "MYSQL_PW_USER", "MYSQL_PW_PASSWORD", "MYSQL_TLS_USER", "MYSQL_TLS_PASSWORD", "MYSQL_IAM_USER",
            "MYSQL_IAM_REGION", "AWS_ACCESS_KEY_ID_IAM_TEST", "AWS_SECRET_ACCESS_KEY_IAM_TEST",
            "AWS_ACCESS_KEY_ID_IAM_TEST_TEMP", "AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP",
            "AWS_SESSION_TOKEN_IAM_TEST_TEMP", "MYSQL_IAM_SECRETS", "MYSQL_IAM_PAM_SERVICE", "MYSQL_DATABASE"]
    missing = [k for k in want if not env.get(k)]
    ok(not missing, "env file has all keys", f"missing: {missing}")
    ok(env["MYSQL_HOST"] == "127.0.0.1" and env["MYSQL_TLS"] == "1" and env0["MYSQL_TLS"] == "0",
       "env: MYSQL_HOST and MYSQL_TLS")
    ok(os.path.isfile(ca) and os.path.isfile(wrong) and os.path.exists(env["MYSQL_SOCKET"]),
       "CA files and socket exist")
    pam_file = "/etc/pam.d/" + env["MYSQL_IAM_PAM_SERVICE"]
    ok(os.path.isfile(pam_file) and env["MYSQL_IAM_PAM_SERVICE"] != env0["MYSQL_IAM_PAM_SERVICE"],
       "unique PAM service file installed")
    r = subprocess.run(["bash", "-c", f'set -u; . "{d}/env"; echo "$MYSQL_PORT"'], capture_output=True, text=True)
    ok(r.returncode == 0 and r.stdout.strip() == env["MYSQL_PORT"], "env file is sourceable by sh", r.stderr)
    listen = subprocess.run(["bash", "-c", "cat /proc/net/tcp /proc/net/tcp6"], capture_output=True, text=True).stdout
    hexport = f"{port:04X}"
    listeners = [l.split()[1] for l in listen.splitlines()[1:] if l.split()[3] == "0A" and l.split()[1].endswith(":" + hexport)]
    ok(listeners == ["0100007F:" + hexport], "server listens on 127.0.0.1 only", listeners)

    # --- TLS with the right / wrong CA (mariadb client)
    rc, out, err = mariadb(env, "bq_pw", env["MYSQL_PW_PASSWORD"], *tls_opts(ca),
                           sql="SHOW STATUS LIKE 'Ssl_version'")
    ok(rc == 0 and re.search(r"Ssl_version\tTLSv1\.[23]", out), "mariadb: verified TLS with the right CA", out + err)
    rc, out, err = mariadb(env, "bq_pw", env["MYSQL_PW_PASSWORD"], *tls_opts(wrong))
    ok(rc != 0 and re.search(r"ssl|tls|certificate", err, re.I), "mariadb: wrong CA is refused", f"rc={rc} {out}{err}")
    r = subprocess.run(["openssl", "verify", "-CAfile", wrong, os.path.join(d, "tls", "server-cert.pem")],
                       capture_output=True, text=True)
    ok(r.returncode != 0, "openssl: server certificate does not verify against the wrong CA")
    r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                        os.path.join(d, "tls", "server-cert.pem")], capture_output=True, text=True)
    ok("IP Address:127.0.0.1" in r.stdout and "DNS:localhost" in r.stdout, "server cert SAN IP:127.0.0.1, DNS:localhost",
       r.stdout + r.stderr)

    # --- TLS with pymysql (hostname check on)
    def pm(user, password, ssl_ca=None, port_=None, host="127.0.0.1", **kw):
        ssl_arg = None
        if ssl_ca:
            ctx = ssl.create_default_context(cafile=ssl_ca)
            ctx.check_hostname = True
            ssl_arg = ctx
        return pymysql.connect(host=host, port=port_ or port, user=user, password=password, database="bqtest",
                               ssl=ssl_arg, connect_timeout=10, **kw)

    try:
        c = pm("bq_tls", env["MYSQL_TLS_PASSWORD"], ssl_ca=ca)
        with c.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            cipher = cur.fetchone()[1]
            cur.execute("SELECT CURRENT_USER()")
            who = cur.fetchone()[0]
        c.close()
        ok(cipher and who == "bq_tls@%", "pymysql: bq_tls over verified TLS", f"{cipher} {who}")
    except Exception as e:
        ok(False, "pymysql: bq_tls over verified TLS", repr(e))
    try:
        pm("bq_tls", env["MYSQL_TLS_PASSWORD"], ssl_ca=wrong).close()
        ok(False, "pymysql: wrong CA is refused")
    except pymysql.err.OperationalError as e:
        ok("CERTIFICATE_VERIFY_FAILED" in repr(e) or "certificate" in repr(e).lower(), "pymysql: wrong CA is refused",
           repr(e))

    # --- password users
    rc, out, err = mariadb(env, "bq_pw", env["MYSQL_PW_PASSWORD"], "--skip-ssl", sql="SHOW STATUS LIKE 'Ssl_cipher'")
    ok(rc == 0 and out.strip() == "Ssl_cipher", "bq_pw logs in over a plain connection", out + err)
    rc, out, err = mariadb(env, "bq_pw", "not-the-password", "--skip-ssl")
    ok(rc != 0 and "1045" in err, "bq_pw with a wrong password is refused", err)
    rc, out, err = mariadb(env, "bq_tls", env["MYSQL_TLS_PASSWORD"], "--skip-ssl")
    ok(rc != 0 and "1045" in err, "bq_tls over a plain connection is refused (REQUIRE SSL)", err)
    rc, out, err = mariadb(env, "bq_pw", env["MYSQL_PW_PASSWORD"], *tls_opts(ca),
                           sql="CREATE TABLE t (i INT); INSERT INTO t VALUES (7); SELECT i FROM t; DROP TABLE t")
    ok(rc == 0 and out.strip() == "7", "bq_pw can create tables in bqtest", out + err)
    rc, out, err = mariadb(env, "root", "", "--skip-ssl")
    ok(rc != 0, "root cannot log in over TCP", out + err)
    r = subprocess.run(["mariadb", "--no-defaults", "-S", env["MYSQL_SOCKET"], "-u", "root", "-N", "-e",
                        "SELECT @@require_secure_transport, @@have_ssl, @@pam_use_cleartext_plugin"],
                       capture_output=True, text=True)
    ok(r.returncode == 0 and r.stdout.split() == ["0", "YES", "1"],
       "root over the socket; require_secure_transport=OFF, have_ssl=YES, pam_use_cleartext_plugin=ON",
       r.stdout + r.stderr)

    # --- IAM emulation: good tokens
    tok = make_token("127.0.0.1", port, "bq_iam", akid, secret)
    ok(tok.startswith(f"127.0.0.1:{port}/?Action=connect&DBUser=bq_iam&") and len(tok) < 511,
       f"botocore token has the RDS shape ({len(tok)} bytes)", tok.split("&X-Amz-Signature")[0])
    mark = log_size(d)
    rc, out, err = mariadb(env, "bq_iam", tok, "--enable-cleartext-plugin", *tls_opts(ca),
                           sql="SELECT CURRENT_USER(); SHOW STATUS LIKE 'Ssl_version'")
    ok(rc == 0 and out.startswith("bq_iam@%\n") and "TLSv1" in out,
       "IAM: mariadb --enable-cleartext-plugin logs in with a botocore token over verified TLS", out + err)
    ok("ACCEPTED" in verifier_log_tail(d, mark), "IAM: verifier.log records the acceptance", verifier_log_tail(d, mark))

    tokp = make_token("127.0.0.1", port, "bq_iam", akid, secret, pure=True)
    mark = log_size(d)
    try:
        c = pm("bq_iam", tokp, ssl_ca=ca)
        with c.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            who = cur.fetchone()[0]
        c.close()
        ok(who == "bq_iam@%", "IAM: pymysql (mysql_clear_password over TLS) logs in with a pure-Python botocore token",
           who)
    except Exception as e:
        ok(False, "IAM: pymysql (mysql_clear_password over TLS) logs in with a pure-Python botocore token", repr(e))
    ok("botocore_identical=yes" in verifier_log_tail(d, mark),
       "IAM: verifier sees the pure-Python token as byte-identical to its own", verifier_log_tail(d, mark))

    # --- IAM emulation: refused tokens, each for the expected reason
    now = datetime.datetime.utcnow()
    bad = [
        ("wrong secret", make_token("127.0.0.1", port, "bq_iam", akid, "x" * 40), "signature mismatch"),
        ("unknown access key", make_token("127.0.0.1", port, "bq_iam", "AKIDOTHER", secret), "unknown access key"),
        ("token for another user", make_token("127.0.0.1", port, "bq_pw", akid, secret), "DBUser"),
        ("token for another port", make_token("127.0.0.1", port + 1, "bq_iam", akid, secret), "token is for"),
        ("token for another host", make_token("localhost", port, "bq_iam", akid, secret), "token is for"),
        ("token for another region", make_token("127.0.0.1", port, "bq_iam", akid, secret, region="eu-west-1"),
         "region"),
        ("expired token (clock 16 min ago)",
         make_token("127.0.0.1", port, "bq_iam", akid, secret, at=now - datetime.timedelta(minutes=16)), "expired"),
        ("expired token, pure signer (clock 1 day ago)",
         make_token("127.0.0.1", port, "bq_iam", akid, secret, at=now - datetime.timedelta(days=1), pure=True),
         "expired"),
        ("token from the future (clock +1 h)",
         make_token("127.0.0.1", port, "bq_iam", akid, secret, at=now + datetime.timedelta(hours=1)), "future"),
        ("tampered signature", tok[:-1] + ("0" if tok[-1] != "0" else "1"), "signature mismatch"),
        ("tampered expiry", tok.replace("X-Amz-Expires=900", "X-Amz-Expires=899"), "signature mismatch"),
        ("not a token", "hello", "not HOST:PORT"),
    ]
    for name, t, reason in bad:
        mark = log_size(d)
        rc, out, err = mariadb(env, "bq_iam", t, "--enable-cleartext-plugin", *tls_opts(ca))
        tail = verifier_log_tail(d, mark)
        ok(rc != 0 and "1045" in err and "REFUSED" in tail and reason in tail,
           f"IAM: {name} is refused ({reason})", f"rc={rc} {err}\nlog: {tail}")

    # A valid token for bq_iam over a plain connection: REQUIRE SSL refuses the login.
    rc, out, err = mariadb(env, "bq_iam", tok, "--skip-ssl")
    ok(rc != 0 and "1045" in err, "IAM: bq_iam over a plain connection is refused (REQUIRE SSL)", err)
    # The same token presented as another PAM user does not work either.
    rc, out, err = mariadb(env, "bq_pw", tok, *tls_opts(ca))
    ok(rc != 0, "IAM token is not bq_pw's password", err)

    # A token with a session token is longer than pam_exec's 511 bytes: refused via PAM ...
    tak, tsk, tst = (env["AWS_ACCESS_KEY_ID_IAM_TEST_TEMP"], env["AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP"],
                     env["AWS_SESSION_TOKEN_IAM_TEST_TEMP"])
    stok = make_token("127.0.0.1", port, "bq_iam", tak, tsk, tst)
    ok(len(stok) > 511 and "X-Amz-Security-Token=" in stok, f"session-token token is {len(stok)} bytes (> 511)")
    mark = log_size(d)
    rc, out, err = mariadb(env, "bq_iam", stok, *tls_opts(ca))
    tail = verifier_log_tail(d, mark)
    ok(rc != 0 and "pam_exec truncates" in tail, "IAM: session-token token via PAM is refused as truncated", tail)

    # ... and checked with the verifier's --check mode instead.
    def check(token, user="bq_iam", port_=port, *extra):
        r = subprocess.run(["/usr/bin/python3", env.get("MYSQL_IAM_VERIFIER", VERIFIER), "--check", token,
                            "--host", "127.0.0.1", "--port", str(port_), "--user", user,
                            "--region", env["MYSQL_IAM_REGION"], "--secrets", env["MYSQL_IAM_SECRETS"], *extra],
                           capture_output=True, text=True)
        return r.returncode, r.stderr

    rc, err = check(stok)
    ok(rc == 0 and "session_token=yes" in err, "verifier --check accepts a session-token token", err)
    rc, err = check(make_token("127.0.0.1", port, "bq_iam", tak, tsk, tst, pure=True))
    ok(rc == 0 and "botocore_identical=yes" in err, "verifier --check accepts a pure-Python session-token token", err)
    rc, err = check(tok)
    ok(rc == 0, "verifier --check accepts a plain token", err)
    r = subprocess.run(["/usr/bin/python3", VERIFIER, "--check", "-", "--host", "127.0.0.1", "--port", str(port),
                        "--user", "bq_iam", "--secrets", env["MYSQL_IAM_SECRETS"]], input=stok + "\n",
                       capture_output=True, text=True)
    ok(r.returncode == 0, "verifier --check - reads the token from stdin", r.stderr)
    tampered = [
        ("tampered session token", stok.replace("bqlua%2Ftest", "bqlua%2Ftesu"), "session token does not match"),
        ("tampered signature", stok[:-1] + ("0" if stok[-1] != "0" else "1"), "signature mismatch"),
        ("session token removed", re.sub(r"&X-Amz-Security-Token=[^&]*", "", stok), "needs a session token"),
        ("other session token, re-signed", make_token("127.0.0.1", port, "bq_iam", tak, tsk, tst + "B"),
         "session token does not match"),
        ("wrong user", make_token("127.0.0.1", port, "bq_pw", tak, tsk, tst), "DBUser"),
        ("wrong secret", make_token("127.0.0.1", port, "bq_iam", tak, "y" * 40, tst), "signature mismatch"),
        ("expired",
         make_token("127.0.0.1", port, "bq_iam", tak, tsk, tst, at=now - datetime.timedelta(minutes=20)), "expired"),
    ]
    for name, t, reason in tampered:
        rc, err = check(t)
        ok(rc == 1 and reason in err, f"verifier --check refuses: {name} ({reason})", err)
    signed = datetime.datetime.strptime(re.search(r"X-Amz-Date=(\w+)", tok).group(1), "%Y%m%dT%H%M%SZ")
    signed = signed.replace(tzinfo=datetime.timezone.utc).timestamp()
    rc, err = check(tok, "bq_iam", port, "--now", str(signed + 899))
    ok(rc == 0, "verifier --check: token still valid 899 s after X-Amz-Date", err)
    rc, err = check(tok, "bq_iam", port, "--now", str(signed + 900))
    ok(rc == 1 and "expired" in err, "verifier --check: token expired 900 s after X-Amz-Date", err)
    rc, err = check(tok, "bq_iam", port, "--now", str(signed - 299))
    ok(rc == 0, "verifier --check: token dated 299 s ahead of the clock is accepted (skew)", err)
    rc, err = check(tok, "bq_iam", port, "--now", str(signed - 301))
    ok(rc == 1 and "future" in err, "verifier --check: token dated 301 s ahead of the clock is refused", err)
    with open(os.path.join(d, "verifier.log")) as f:
        vlog = f.read()
    leaks = [s for s in (secret, tsk, tst, tok.rsplit("=", 1)[1]) if s in vlog]
    ok(not leaks, "verifier.log holds no secret, session token or signature")

    # --- the --no-tls server
    rc, out, err = mariadb(env0, "bq_pw", env0["MYSQL_PW_PASSWORD"], "--skip-ssl",
                           sql="SHOW VARIABLES LIKE 'have_ssl'")
    ok(rc == 0 and out.strip() == "have_ssl\tDISABLED", "--no-tls: have_ssl is DISABLED", out + err)
    rc, out, err = mariadb(env0, "bq_pw", env0["MYSQL_PW_PASSWORD"], *tls_opts(ca))
    ok(rc != 0 and re.search(r"ssl|tls", err, re.I), "--no-tls: a client requiring verified TLS cannot connect", err)
    # pymysql quirk: with ssl= it silently falls back to a plain session when
    # the server offers no TLS. Check the session really is plain.
    try:
        c = pm("bq_pw", env0["MYSQL_PW_PASSWORD"], ssl_ca=ca, port_=int(env0["MYSQL_PORT"]))
        with c.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            cipher = cur.fetchone()[1]
        c.close()
        ok(cipher == "", "--no-tls: even a client asking for TLS gets a plain session", cipher)
    except pymysql.err.OperationalError as e:
        ok(True, "--no-tls: even a client asking for TLS gets a plain session (pymysql refused)")
        bqtest.note(repr(e))
    ok(not env0.get("MYSQL_CA"), "--no-tls: env has no CA")
    # Without TLS, bq_iam has no REQUIRE SSL: a client that sent its token in
    # clear would get in, and the verifier log would show it.
    port0 = int(env0["MYSQL_PORT"])
    tok0 = make_token("127.0.0.1", port0, "bq_iam", akid, secret)
    mark = log_size(d0)
    rc, out, err = mariadb(env0, "bq_iam", tok0, "--skip-ssl", sql="SELECT CURRENT_USER()")
    ok(rc == 0 and out.strip() == "bq_iam@%" and "ACCEPTED" in verifier_log_tail(d0, mark),
       "--no-tls: a token sent in clear is accepted (and logged), so a leaking client is detectable", out + err)

    # --- stop
    pid = int(env["MYSQL_PID"])
    t0 = time.monotonic()
    r = subprocess.run(["bash", SCRIPT, "stop", d], capture_output=True, text=True, timeout=60)
    gone = not os.path.exists(f"/proc/{pid}/cmdline") or open(f"/proc/{pid}/cmdline").read() == ""
    ok(r.returncode == 0 and gone, f"stop: server {pid} stopped in {time.monotonic() - t0:.1f} s", r.stderr)
    ok(not os.path.exists(pam_file), "stop: PAM service file removed")
    r = subprocess.run(["bash", SCRIPT, "stop", d], capture_output=True, text=True, timeout=60)
    ok(r.returncode == 0, "stop is idempotent", r.stderr)
    r = subprocess.run(["bash", SCRIPT, "status", d0], capture_output=True, text=True)
    ok(r.returncode == 0 and "running" in r.stdout, "the other server is unaffected", r.stdout)
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except SystemExit:
        raise
    except BaseException as e:
        import traceback
        ok(False, f"unexpected exception {e!r}", traceback.format_exc())
        rc = 1
    finally:
        bqtest.cleanup(TMP)
    sys.exit(1 if bqtest.done() or rc else 0)
