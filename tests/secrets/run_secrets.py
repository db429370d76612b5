#!/usr/bin/python3
"""No secret in anything bqlua prints.

Runs a representative set of bqlua invocations across the features, with
known test secrets in the environment and in the scripts, captures every
byte of each run's stdout and stderr (logs go to stderr, in text and JSON),
and fails when any of these appears in them:

  * the secret access keys (long-term, session, the RDS IAM test keys, a
    wrong one) and the session tokens (AWS_SESSION_TOKEN, the container's);
  * AWS_CONTAINER_AUTHORIZATION_TOKEN (given directly and through _FILE);
  * the DB passwords (right and wrong);
  * every SigV4 signature and x-amz-security-token bqlua sent to S3: a
    byte-level tee between bqlua and the S3 test server's front records the
    requests as they went over the wire;
  * the RDS IAM tokens: their signatures are recomputed with botocore for
    every second of each run that makes one (a control run that prints
    rds.token proves the recomputation matches bqlua's tokens);
  * generic shapes: "X-Amz-Signature=", "Signature=<64 hex>",
    "X-Amz-Security-Token", "X-Amz-Credential=".

The runs cover: S3 success and failure (wrong secret, wrong session token,
an unreachable endpoint), credentials from the ECS container endpoint (good,
401 that echoes the Authorization header, 500 that echoes the secret, broken
JSON holding the secret), the MariaDB test server (wrong password, SQL
errors after a password login, RDS IAM refused and accepted), rds.token
errors, conn:export to S3 failing and succeeding, script errors with
tracebacks, os.getenv of the secrets, -v debug logging and --log-format json.
BQ_SECRETS_DUMP=DIR keeps each run's output; BQ_SECRETS_WRAPPER (below) runs
bqlua under valgrind or another tool.

Prints TAP. usage: run_secrets.py BQLUA
"""

import datetime
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import bqtest  # noqa: E402
from bqtest import note, ok  # noqa: E402

BUCKET = 'bqlua-secrets'

# Secrets this test makes up (the servers' own come from their env files).
WRONG_SECRET = 'wrongSECRETbqlua/K7MDENG+bPxRfiCYzzWRONGKEY0'
WRONG_SESSION_TOKEN = 'IQoJwrongSESSIONtokenBQLUA//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+wrongTOKEN=='
CONTAINER_AUTH = 'bqlua-container-AUTH-token-5f0c2d7e9a1b4c3d'
CONTAINER_AUTH_FILE_TOKEN = 'bqlua-container-AUTH-file-token-8e7d6c5b4a39'
WRONG_DB_PASSWORD = 'wrong-DB-pa55w0rd-bqlua-7d1e'

# BQ_SECRETS_WRAPPER: a command each bqlua run goes through, e.g.
# "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
# (a memcheck error or a definite leak then shows as a wrong exit status).
WRAPPER = os.environ.get('BQ_SECRETS_WRAPPER', '').split()

# --- a byte-level tee in front of the S3 test server ------------------------------------------

class Tee:
    """Relays 127.0.0.1:port <-> target and keeps every byte the client sent,
    so the signatures and tokens bqlua put on the wire can be looked for in
    its output."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            u = socket.create_connection(self.target)
        except OSError:
            c.close()
            return
        threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()
        self._pump(c, u, True)

    def _pump(self, src, dst, record):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if record:
                    with self.lock:
                        self.sent += b
                dst.sendall(b)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wire_secrets(self):
        with self.lock:
            data = bytes(self.sent)
        sigs = set(re.findall(rb'Signature=([0-9a-f]{64})', data))
        sigs |= set(re.findall(rb'X-Amz-Signature=([0-9a-f]{64})', data))
        tokens = set(m.strip() for m in re.findall(rb'(?im)^x-amz-security-token:[ \t]*([^\r\n]+)', data))
        return {s.decode() for s in sigs}, {t.decode() for t in tokens}


# --- a fake ECS container credentials endpoint ---------------------------------------------------

class ContainerEndpoint:
    """/good: the session keys when Authorization is right (401 otherwise);
    /echo401: 401 whose body echoes the Authorization header;
    /echo500: 500 whose body holds the secret and token;
    /broken: truncated JSON holding the secret."""

    def __init__(self, creds, tokens):
        self.creds = creds
        self.tokens = tokens
        self.seen = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                auth = self.headers.get('Authorization') or ''
                outer.seen.append((self.path, auth))
                body = json.dumps(outer.creds)
                if self.path == '/good':
                    code, body = (200, body) if auth in outer.tokens else (401, '{"error":"unauthorized"}')
                elif self.path == '/echo401':
                    code, body = 401, 'unauthorized: Authorization: %s' % auth
                elif self.path == '/echo500':
                    code = 500
                elif self.path == '/broken':
                    code, body = 200, body[:-12]
                else:
                    code, body = 404, 'no'
                b = body.encode()
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)


# --- RDS tokens, recomputed -----------------------------------------------------------------------

def rds_signatures(host, port, user, region, akid, secret, session_token, t0, t1):
    """The X-Amz-Signature of the token botocore makes for each second in [t0-1, t1+1]."""
    import botocore.session
    s = botocore.session.Session()
    s.set_credentials(akid, secret, session_token)
    client = s.create_client('rds', region_name=region)
    out = set()
    for sec in range(int(t0) - 1, int(t1) + 2):
        with bqtest.pure_signer(), bqtest.frozen_clock(datetime.datetime.utcfromtimestamp(sec)):
            tok = client.generate_db_auth_token(host, port, user, Region=region)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit('https://' + tok).query)
        out.add(q['X-Amz-Signature'][0])
    return out


# --- the runs -------------------------------------------------------------------------------------

GENERIC = [
    (re.compile(r'X-Amz-Signature=', re.I), 'an X-Amz-Signature= parameter'),
    (re.compile(r'Signature=[0-9a-f]{64}'), 'a Signature=<hex> value'),
    (re.compile(r'X-Amz-Security-Token', re.I), 'an X-Amz-Security-Token'),
    (re.compile(r'X-Amz-Credential=', re.I), 'an X-Amz-Credential= parameter'),
    (re.compile(r'AWS4-HMAC-SHA256 Credential', re.I), 'an Authorization header'),
]


class Run:
    def __init__(self, name, argv, env, rc, out, err, t0, t1, script=''):
        self.name, self.argv, self.env, self.rc = name, argv, env, rc
        self.out, self.err, self.t0, self.t1, self.script = out, err, t0, t1, script

    @property
    def text(self):
        return self.out + self.err


class Suite:
    def __init__(self, bqlua, tmp):
        self.bqlua = bqlua
        self.tmp = tmp
        self.runs = []
        self.rds = []        # (host, port, user, region, akid, secret, token, run)

    def base_env(self, **extra):
        env = {'HOME': self.tmp}
        env['AWS_EC2_METADATA_DISABLED'] = 'true'
        env['AWS_CONFIG_FILE'] = os.path.join(self.tmp, 'no-aws-config')
        env['AWS_SHARED_CREDENTIALS_FILE'] = os.path.join(self.tmp, 'no-aws-credentials')
        env['AWS_REGION'] = 'us-east-1'
        env['AWS_MAX_ATTEMPTS'] = '2'
        env.update(extra)
        return bqtest.clean_env(env, drop=('MYSQL_',))

    def run(self, name, code=None, opts=(), args=(), env=None, expect=None, timeout=180):
        argv = WRAPPER + [self.bqlua] + list(opts)
        if code is not None:
            path = os.path.join(self.tmp, 'run_%02d.lua' % (len(self.runs) + 1))
            with open(path, 'w') as f:
                f.write(code)
            argv.append(path)
        argv += list(args)
        t0 = time.time()
        p = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
        t1 = time.time()
        r = Run(name, argv, env, p.returncode, p.stdout.decode('utf-8', 'replace'),
                p.stderr.decode('utf-8', 'replace'), t0, t1, code or '')
        self.runs.append(r)
        dump = os.environ.get('BQ_SECRETS_DUMP')
        if dump:
            os.makedirs(dump, exist_ok=True)
            with open(os.path.join(dump, '%02d.txt' % len(self.runs)), 'w') as f:
                f.write('%s\n$ %s\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s' % (
                    name, ' '.join(argv[len(WRAPPER) + 1:]), r.rc, r.out, r.err))
        if expect is not None:
            ok(expect(r), '%s: behaves as expected (exit %d)' % (name, r.rc), r.text[-3000:])
        return r


PRINT_ERR = r'''
local function show(label, f, ...)
  local ok, e = pcall(f, ...)
  if ok then print(label .. ": ok") return end
  if type(e) == "table" then
    local parts = {}
    for k, v in pairs(e) do parts[#parts + 1] = tostring(k) .. "=" .. tostring(v) end
    table.sort(parts)
    print(label .. ": " .. table.concat(parts, " "))
    log.error(label .. " failed: " .. tostring(e.message))
  else
    print(label .. ": " .. tostring(e))
    log.error(label .. " failed: " .. tostring(e))
  end
end
'''


def s3_runs(S, s3env, endpoint):
    B = BUCKET
    good = dict(AWS_ACCESS_KEY_ID=s3env['AWS_ACCESS_KEY_ID'], AWS_SECRET_ACCESS_KEY=s3env['AWS_SECRET_ACCESS_KEY'])
    sess = dict(AWS_ACCESS_KEY_ID=s3env['S3_SESSION_ACCESS_KEY_ID'],
                AWS_SECRET_ACCESS_KEY=s3env['S3_SESSION_SECRET_ACCESS_KEY'],
                AWS_SESSION_TOKEN=s3env['S3_SESSION_TOKEN'])
    ep = ['--endpoint', endpoint]
    work = PRINT_ERR + r'''
local B = ...
local u = "s3://" .. B .. "/secrets/"
show("put", s3.put, u .. "a.txt", "hello")
show("get", s3.get, u .. "a.txt")
show("head", s3.head, u .. "a.txt")
show("list", function() local n = 0 for o in s3.list(u) do n = n + 1 end return n end)
show("lines", function() for l in s3.lines(u .. "a.txt") do end end)
show("writer", function()
  local w = s3.writer(u .. "big.bin", {part_size = 5 * 1024 * 1024})
  local block = string.rep("y", 1024 * 1024)
  for i = 1, 6 do w:write(block) end
  w:close()
end)
show("missing", s3.get, u .. "missing")
show("delete", s3.delete, u .. "a.txt")
print("getenv", os.getenv("AWS_SECRET_ACCESS_KEY"), os.getenv("AWS_SESSION_TOKEN"),
      os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"), os.getenv("DB_PASSWORD"))
'''
    S.run('s3 with long-term keys, -v, text logs', work, ep + ['-v'], [B], S.base_env(**good),
          expect=lambda r: r.rc == 0 and 'put: ok' in r.out and 'writer: ok' in r.out)
    S.run('s3 with session keys, -v, json logs', work, ep + ['-v', '--log-format', 'json'], [B],
          S.base_env(**sess), expect=lambda r: r.rc == 0 and 'writer: ok' in r.out)
    bad = dict(good, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    S.run('s3 with a wrong secret (SignatureDoesNotMatch echoes the signature)', work, ep + ['-v'], [B],
          S.base_env(**bad), expect=lambda r: r.rc == 0 and 'put: ' in r.out and 'put: ok' not in r.out)
    S.run('s3 with a wrong secret, json logs, uncaught', PRINT_ERR + 'local B = ...\ns3.get("s3://" .. B .. "/x")\n',
          ep + ['-v', '--log-format', 'json'], [B], S.base_env(**bad), expect=lambda r: r.rc == 1)
    badtok = dict(sess, AWS_SESSION_TOKEN=WRONG_SESSION_TOKEN)
    S.run('s3 with a wrong session token', work, ep + ['-v'], [B], S.base_env(**badtok),
          expect=lambda r: r.rc == 0 and 'put: ok' not in r.out)
    S.run('s3 with a wrong session secret, writer uncaught', PRINT_ERR + r'''
local B = ...
local w <close> = s3.writer("s3://" .. B .. "/secrets/w.bin", {part_size = 5 * 1024 * 1024})
w:write(string.rep("z", 6 * 1024 * 1024))
w:close()
''', ep, [B], S.base_env(**dict(sess, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)), expect=lambda r: r.rc == 1)
    # an endpoint where nothing listens: connection errors while credentials are loaded
    dead = socket.socket()
    dead.bind(('127.0.0.1', 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    S.run('s3 to a closed port', work, ['--endpoint', 'http://127.0.0.1:%d' % dead_port, '-v'], [B],
          S.base_env(**sess, AWS_MAX_ATTEMPTS='1'), expect=lambda r: r.rc == 0 and 'put: ok' not in r.out)
    # a script loaded from S3 with a wrong secret, and a wrong --sha256
    S.run('script from s3 with a wrong secret', None, ep + ['-v'], ['s3://%s/secrets/task.lua' % B],
          S.base_env(**bad), expect=lambda r: r.rc == 3)
    S.run('script from s3, missing, session keys', None, ep + ['--log-format', 'json'],
          [B, 'secrets/none.lua'], S.base_env(**sess), expect=lambda r: r.rc == 3)
    return good, sess


def container_runs(S, s3env, endpoint, ce):
    B = BUCKET
    ep = ['--endpoint', endpoint]
    code = PRINT_ERR + r'''
local B = ...
show("put", s3.put, "s3://" .. B .. "/secrets/c.txt", "from container creds")
show("get", s3.get, "s3://" .. B .. "/secrets/c.txt")
'''
    tokfile = os.path.join(S.tmp, 'container-token')
    with open(tokfile, 'w') as f:
        f.write(CONTAINER_AUTH_FILE_TOKEN + '\n')
    for path, label, want in [('/good', 'good', 'put: ok'), ('/echo401', '401 echoing Authorization', 'put: '),
                              ('/echo500', '500 echoing the secret', 'put: '),
                              ('/broken', 'broken JSON holding the secret', 'put: ')]:
        env = S.base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=ce.url(path),
                         AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
        S.run('container credentials: %s, -v' % label, code, ep + ['-v'], [B], env,
              expect=lambda r, want=want: r.rc == 0 and want in r.out)
        S.run('container credentials: %s, json, uncaught' % label,
              'local B = ...\ns3.get("s3://" .. B .. "/secrets/c.txt")\n', ep + ['--log-format', 'json'], [B],
              env, expect=lambda r, path=path: (r.rc == 0) == (path == '/good'))
    env = S.base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=ce.url('/good'),
                     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tokfile)
    S.run('container credentials: token from _FILE', code, ep + ['-v'], [B], env,
          expect=lambda r: r.rc == 0 and 'put: ok' in r.out)
    env = S.base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=ce.url('/good'),
                     AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH + '\r\nX-Injected: 1')
    S.run('container credentials: a token with CR/LF is refused', code, ep, [B], env,
          expect=lambda r: 'put: ok' not in r.out)


def db_runs(S, db, s3env, endpoint, sess):
    host, port = db['MYSQL_HOST'], int(db['MYSQL_PORT'])
    iam_env = dict(AWS_ACCESS_KEY_ID=db['AWS_ACCESS_KEY_ID_IAM_TEST'],
                   AWS_SECRET_ACCESS_KEY=db['AWS_SECRET_ACCESS_KEY_IAM_TEST'])
    conn = ("host=os.getenv('MYSQL_HOST'), port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))), "
            "database=os.getenv('MYSQL_DATABASE'), ssl_ca=os.getenv('MYSQL_CA')")
    envdb = dict(MYSQL_HOST=host, MYSQL_PORT=str(port), MYSQL_DATABASE=db['MYSQL_DATABASE'], MYSQL_CA=db['MYSQL_CA'],
                 DB_PASSWORD=db['MYSQL_PW_PASSWORD'], DB_TLS_PASSWORD=db['MYSQL_TLS_PASSWORD'],
                 BQLUA_MASK_ENV='DB_TLS_PASSWORD')
    pw = PRINT_ERR + '''
show("wrong password", db.connect, {%(c)s, user='bq_pw', password=%(wrong)r})
show("wrong password, no TLS verify", db.connect, {host=os.getenv('MYSQL_HOST'),
     port=math.tointeger(tonumber(os.getenv('MYSQL_PORT'))), user='bq_pw', password=%(wrong)r})
show("tls user, wrong password", db.connect, {%(c)s, user='bq_tls', password=%(wrong)r})
local conn <close> = db.connect{%(c)s, user='bq_pw', password=os.getenv('DB_PASSWORD')}
show("bad sql", conn.query, conn, "SELEC broken syntax")
show("bad table", conn.query, conn, "SELECT * FROM no_such_table")
show("bad param", conn.query, conn, "SELECT ?", {params = {}})
local t = conn:query("SELECT 1 AS one")
print("one", t[1].one)
log.info("connected as bq_pw")
print("masked", os.getenv("DB_TLS_PASSWORD"))
error({code = "Custom", message = "failing on purpose after a login"})
''' % {'c': conn, 'wrong': WRONG_DB_PASSWORD}
    S.run('db password logins and SQL errors, -v', pw, ['-v'], [], S.base_env(**envdb, **iam_env),
          expect=lambda r: r.rc == 1 and 'one\t1' in r.out)
    S.run('db password logins and SQL errors, json', pw, ['--log-format', 'json'], [],
          S.base_env(**envdb, **iam_env), expect=lambda r: r.rc == 1 and 'one\t1' in r.out)
    tls_user = PRINT_ERR + '''
local conn <close> = db.connect{%(c)s, user='bq_tls', password=%(pw)r}
conn:query("SELECT nonsense(")
''' % {'c': conn, 'pw': db['MYSQL_TLS_PASSWORD']}
    S.run('db TLS user, password in the script, SQL error uncaught', tls_user, ['-v'], [],
          S.base_env(**envdb, **iam_env), expect=lambda r: r.rc == 1)

    # RDS IAM: refused (wrong secret; session token too long for the PAM path) and accepted
    iam = PRINT_ERR + '''
show("iam", db.connect, {%(c)s, user='bq_iam', iam=true, region='us-east-1'})
show("iam wrong user", db.connect, {%(c)s, user='bq_pw', iam=true, region='us-east-1'})
''' % {'c': conn}
    cases = [
        ('db IAM with a wrong secret, -v', dict(iam_env, AWS_SECRET_ACCESS_KEY=WRONG_SECRET), None),
        ('db IAM with session credentials', dict(AWS_ACCESS_KEY_ID=db['AWS_ACCESS_KEY_ID_IAM_TEST_TEMP'],
                                                 AWS_SECRET_ACCESS_KEY=db['AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP'],
                                                 AWS_SESSION_TOKEN=db['AWS_SESSION_TOKEN_IAM_TEST_TEMP']), None),
        ('db IAM accepted, then errors', iam_env, None),
    ]
    for name, e, _ in cases:
        r = S.run(name, iam, ['-v', '--log-format', 'json'], [], S.base_env(**envdb, **e),
                  expect=lambda r: r.rc == 0 and 'iam: ' in r.out)
        for user in ('bq_iam', 'bq_pw'):
            S.rds.append((host, port, user, 'us-east-1', e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY'],
                          e.get('AWS_SESSION_TOKEN'), r))
    accepted = S.runs[-1]
    ok('iam: ok' in accepted.out, 'db IAM with the right keys logs in (so a real token was made)', accepted.text)

    # rds.token: made but not printed, then errors
    tok = PRINT_ERR + '''
local t = rds.token{host='db.example.us-east-1.rds.amazonaws.com', port=3306, user='bq_iam', region='us-east-1'}
print("token length", #t)
show("no region", rds.token, {host='h.example', user='u'})
show("bad option", rds.token, {host='h.example', user='u', region='us-east-1', password='x'})
show("bad port", rds.token, {host='h.example', user='u', region='us-east-1', port=70000})
error("failing after making a token")
'''
    for name, e in [('rds.token then errors (long-term keys)', iam_env),
                    ('rds.token then errors (session keys)', dict(
                        AWS_ACCESS_KEY_ID=db['AWS_ACCESS_KEY_ID_IAM_TEST_TEMP'],
                        AWS_SECRET_ACCESS_KEY=db['AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP'],
                        AWS_SESSION_TOKEN=db['AWS_SESSION_TOKEN_IAM_TEST_TEMP']))]:
        env = S.base_env(**e)
        env.pop('AWS_REGION')
        r = S.run(name, tok, ['-v'], [], env, expect=lambda r: r.rc == 1 and 'token length' in r.out)
        S.rds.append(('db.example.us-east-1.rds.amazonaws.com', 3306, 'bq_iam', 'us-east-1',
                      e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY'], e.get('AWS_SESSION_TOKEN'), r))

    # conn:export to S3 (through the tee): failing with a wrong secret, then succeeding
    export = PRINT_ERR + '''
local B = ...
local conn <close> = db.connect{%(c)s, user='bq_pw', password=os.getenv('DB_PASSWORD')}
show("export", conn.export, conn, "SELECT seq, REPEAT('s', 100) FROM seq_1_to_100000",
     "s3://" .. B .. "/secrets/export/e", {part_size = 5 * 1024 * 1024})
show("exec outfile", conn.exec, conn, "SELECT seq FROM seq_1_to_1000 INTO OUTFILE S3 's3://" .. B ..
     "/secrets/export/o' FORMAT CSV OVERWRITE ON")
''' % {'c': conn}
    S.run('conn:export to s3 with a wrong secret', export, ['--endpoint', endpoint, '-v'], [BUCKET],
          S.base_env(**envdb, **dict(sess, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)),
          expect=lambda r: r.rc == 0 and 'export: ' in r.out and 'export: ok' not in r.out)
    S.run('conn:export to s3 with session keys, json logs', export,
          ['--endpoint', endpoint, '-v', '--log-format', 'json'], [BUCKET], S.base_env(**envdb, **sess),
          expect=lambda r: r.rc == 0 and 'export: ok' in r.out)


def control_run(S, db):
    """Prints an rds.token on purpose: the detector must find it."""
    e = dict(AWS_ACCESS_KEY_ID=db['AWS_ACCESS_KEY_ID_IAM_TEST'],
             AWS_SECRET_ACCESS_KEY=db['AWS_SECRET_ACCESS_KEY_IAM_TEST'])
    code = "print(rds.token{host='db.example.us-east-1.rds.amazonaws.com', port=3306, user='bq_iam'})\n"
    t0 = time.time()
    p = subprocess.run(WRAPPER + [S.bqlua, '-e', code], env=S.base_env(**e), capture_output=True, timeout=60)
    t1 = time.time()
    sigs = rds_signatures('db.example.us-east-1.rds.amazonaws.com', 3306, 'bq_iam', 'us-east-1',
                          e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY'], None, t0, t1)
    out = p.stdout.decode()
    ok(p.returncode == 0 and any(s in out for s in sigs),
       'control: a printed rds.token is found by the recomputed signatures (the detector works)',
       out + p.stderr.decode())


def check_all(S, secrets):
    """One TAP line per run: none of the secrets (name -> set of values) in its output."""
    for r in S.runs:
        found = []
        text = r.text
        for name, values in secrets.items():
            for v in values:
                if v and v in text:
                    found.append('%s (%s...)' % (name, v[:6]))
        for rx, what in GENERIC:
            if rx.search(text):
                found.append(what)
        ok(not found, 'no secret in the output of: %s' % r.name,
           'found: %s\n--- output ---\n%s' % (', '.join(sorted(set(found))), text[-2500:]))


def main():
    bqlua, = bqtest.args('BQLUA')
    tmp = tempfile.mkdtemp(prefix='bqlua-secrets-')
    bqtest.cleanup_on_signals(tmp)
    try:
        envs = []
        for script, d, extra, what in [(bqtest.S3_SERVER, os.path.join(tmp, 's3'), ['--bucket', BUCKET], 'S3'),
                                       (bqtest.MARIADB_SERVER, os.path.join(tmp, 'db'), [], 'MariaDB')]:
            for attempt in (1, 2):      # once more on a loaded machine
                env = bqtest.start_server(script, d, *extra, timeout=180)
                if env is not None:
                    break
                subprocess.run(['bash', script, 'stop', d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                shutil.rmtree(d, ignore_errors=True)
            envs.append(env or bqtest.bail('cannot start the %s test server' % what))
        s3env, db = envs
        front = urllib.parse.urlsplit(s3env['S3_ENDPOINT'])
        tee = Tee(front.hostname, front.port)
        endpoint = 'http://127.0.0.1:%d' % tee.port
        S = Suite(bqlua, tmp)
        ce = ContainerEndpoint({'AccessKeyId': s3env['S3_SESSION_ACCESS_KEY_ID'],
                                'SecretAccessKey': s3env['S3_SESSION_SECRET_ACCESS_KEY'],
                                'Token': s3env['S3_SESSION_TOKEN'],
                                'Expiration': (datetime.datetime.utcnow() + datetime.timedelta(hours=1))
                                .strftime('%Y-%m-%dT%H:%M:%SZ')},
                               {CONTAINER_AUTH, CONTAINER_AUTH_FILE_TOKEN})

        good, sess = s3_runs(S, s3env, endpoint)
        container_runs(S, s3env, endpoint, ce)
        ok(any(a == CONTAINER_AUTH for _, a in ce.seen) and any(a == CONTAINER_AUTH_FILE_TOKEN for _, a in ce.seen),
           'the container endpoint received both authorization tokens')
        db_runs(S, db, s3env, endpoint, sess)
        S.run('-e syntax error with secrets in the environment', None, ['-v', '-e', 'local x = ('], [],
              S.base_env(**sess, AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH),
              expect=lambda r: r.rc == 3)
        S.run('--sha256 mismatch with secrets in the environment', 'print(1)\n', ['--sha256', '0' * 64], [],
              S.base_env(**sess), expect=lambda r: r.rc == 3)
        control_run(S, db)

        sigs, tokens = tee.wire_secrets()
        ok(len(sigs) >= 20, 'the tee saw the SigV4 signatures bqlua sent (%d)' % len(sigs))
        ok(WRONG_SESSION_TOKEN in tokens and s3env['S3_SESSION_TOKEN'] in tokens,
           'the tee saw the session tokens bqlua sent (%d distinct)' % len(tokens))
        rds = set()
        for host, port, user, region, akid, secret, st, r in S.rds:
            rds |= rds_signatures(host, port, user, region, akid, secret, st, r.t0, r.t1)
        note('%d runs; %d S3 signatures, %d session tokens from the wire; %d RDS token signatures recomputed'
             % (len(S.runs), len(sigs), len(tokens), len(rds)))
        secrets = {
            'S3 secret key': {s3env['AWS_SECRET_ACCESS_KEY'], s3env['S3_SESSION_SECRET_ACCESS_KEY']},
            'session token': {s3env['S3_SESSION_TOKEN'], WRONG_SESSION_TOKEN, db['AWS_SESSION_TOKEN_IAM_TEST_TEMP']},
            'wrong secret key': {WRONG_SECRET},
            'IAM test secret key': {db['AWS_SECRET_ACCESS_KEY_IAM_TEST'], db['AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP']},
            'container authorization token': {CONTAINER_AUTH, CONTAINER_AUTH_FILE_TOKEN},
            'DB password': {db['MYSQL_PW_PASSWORD'], db['MYSQL_TLS_PASSWORD'], WRONG_DB_PASSWORD},
            'S3 signature (from the wire)': sigs,
            'security token (from the wire)': tokens,
            'RDS token signature': rds,
        }
        check_all(S, secrets)
    finally:
        bqtest.cleanup(tmp)
    return bqtest.done()


if __name__ == '__main__':
    sys.exit(main())
