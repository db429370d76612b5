#!/usr/bin/python3
"""TAP driver: conn:export's fault campaign with real servers on 127.0.0.1
(a throwaway MariaDB from scripts/mariadb-test-server.sh, the S3 test server
from scripts/s3-test-server.sh with --faults, and a fake ECS container
credentials endpoint run in this process).

  1. S3 faults: a 1,000,000-row export (3 parts of 10 MB, two of them
     multipart with 8 MiB pieces, the last one a PutObject) through the front
     with a seeded random 20 % of requests failing (503, 500, SlowDown,
     connection reset mid-body, response truncated mid-answer) completes, and
     its parts are byte-identical to a clean run's and to the rows as Python
     formats them.  With permanent faults (every UploadPart, every PutObject,
     or every UploadPart after the first part completed) the export fails
     with one clear error line, ListMultipartUploads is empty and nothing is
     at the prefix.
  2. Stops: --timeout mid-export (exit 4) leaves nothing at the prefix and no
     open upload.  --memory-limit: conn:export allocates nothing on the Lua
     heap, so the cap is hit by the script around it: an s3.writer left open
     across a completed export, then a memory bomb -> exit 4, the writer's
     upload aborted, the completed export intact.  (SIGTERM: run_export.py.)
  3. Database loss: the MariaDB server SIGKILLed mid-export -> non-zero exit
     in bounded time with a one-line error, nothing at the prefix, no upload.
  4. Credential expiry: bqlua takes credentials from the fake container
     endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI + authorization token),
     which hands out a new key pair on every call, each expiring 302 s ahead:
     just past the S3 layer's 300 s refresh margin, so they go stale within
     seconds and are refreshed (at most every 5 s, REFETCH_INTERVAL) during
     the export.  Each new pair is added to the front's credentials file
     before it is served (the front re-reads it).  The export completes,
     byte-identical, the endpoint served >= 3 pairs and the front saw
     requests signed with >= 3 of them.

Run as root with Debian's /usr/bin/python3.  usage: run_faults.py BQLUA
BQLUA_TEST_ONLY=sub1,sub2 runs only the matching tests (and test_clean).
"""

import hashlib
import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'lib'))
import bqtest  # noqa: E402
from bqtest import note, ok  # noqa: E402

AWS = '/usr/bin/aws'
BUCKET = 'flt'
ROWS = 1000000
PART_SIZE = 10000000        # 3 parts of ~25.6 MB: 2 multipart (8 MiB pieces), 1 PutObject


class Ctx:
    pass


C = Ctx()


EXPORT_LUA = r'''
local prefix, part_size, rows, mode = ...
local conn <close> = db.connect{ host = os.getenv("MYSQL_HOST"),
  port = math.tointeger(tonumber(os.getenv("MYSQL_PORT"))),
  user = os.getenv("MYSQL_PW_USER"), password = os.getenv("MYSQL_PW_PASSWORD"),
  database = os.getenv("MYSQL_DATABASE") }
local side
if mode == "bomb" then
  -- an upload left open across the export: 6 MiB with 5 MiB pieces, one part sent
  side = s3.writer("s3://flt/" .. prefix .. "side.bin", {part_size = 5 * 1024 * 1024})
  for i = 1, 6 do side:write(string.rep("s", 1024 * 1024)) end
end
local r = conn:export("SELECT seq, seq*2, CONCAT('row', seq) FROM seq_1_to_" .. rows,
                      "s3://flt/" .. prefix .. "p", {part_size = math.tointeger(tonumber(part_size))})
print(string.format("exported %d rows in %d parts", r.rows, #r.parts))
if mode == "bomb" then
  local t = {}
  while true do t[#t + 1] = string.rep("m", 1024 * 1024 - 64) .. #t end
end
'''


def expected_bytes(rows=ROWS):
    return b''.join(b'%d\t%d\trow%d\n' % (i, 2 * i, i) for i in range(1, rows + 1))


def bq_env(**extra):
    env = {'HOME': C.tmp}
    for k in ('MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_PW_USER', 'MYSQL_PW_PASSWORD', 'MYSQL_DATABASE'):
        env[k] = C.db[k]
    env.update(AWS_ACCESS_KEY_ID=C.s3['AWS_ACCESS_KEY_ID'], AWS_SECRET_ACCESS_KEY=C.s3['AWS_SECRET_ACCESS_KEY'],
               AWS_REGION='us-east-1', AWS_EC2_METADATA_DISABLED='true', AWS_MAX_ATTEMPTS='3')
    env.update(extra)
    return bqtest.clean_env(env)


def start_export(prefix, rows=ROWS, part_size=PART_SIZE, mode='plain', opts=(), env=None):
    cmd = [C.bqlua, '--endpoint', C.endpoint] + list(opts) + [C.lua, prefix, str(part_size), str(rows), mode]
    return subprocess.Popen(cmd, env=env or bq_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_export(prefix, **kw):
    t0 = time.monotonic()
    rc, out, err, _ = bqtest.finish(start_export(prefix, **kw), 300)
    return rc, out, err, time.monotonic() - t0


def aws(*args):
    env = bqtest.clean_env(dict(HOME=C.tmp, AWS_ACCESS_KEY_ID=C.s3['AWS_ACCESS_KEY_ID'],
                                AWS_SECRET_ACCESS_KEY=C.s3['AWS_SECRET_ACCESS_KEY'], AWS_DEFAULT_REGION='us-east-1',
                                AWS_EC2_METADATA_DISABLED='true'))
    return subprocess.run([AWS, '--endpoint-url', C.endpoint] + list(args), env=env, capture_output=True,
                          timeout=300)


def set_faults(rules):
    tmp = C.faults + '.tmp'
    with open(tmp, 'w') as f:
        json.dump({'rules': rules}, f)
    os.replace(tmp, C.faults)       # a new inode: the front starts its counters over


def log_records(since=0):
    with open(C.s3['S3_REQUEST_LOG']) as f:
        return [json.loads(line) for line in f.readlines()[since:] if line.strip()]


def log_len():
    with open(C.s3['S3_REQUEST_LOG']) as f:
        return sum(1 for _ in f)


def keys_at(prefix):
    p = aws('s3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', prefix)
    if p.returncode != 0:
        return None
    return sorted(o['Key'] for o in json.loads(p.stdout or b'{}').get('Contents', []))


def open_uploads(prefix=''):
    p = aws('s3api', 'list-multipart-uploads', '--bucket', BUCKET, '--prefix', prefix)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout or b'{}').get('Uploads', [])


def download(prefix):
    """{key: bytes} of the objects at prefix, through the front (faults off)."""
    d = tempfile.mkdtemp(dir=C.tmp)
    p = aws('s3', 'cp', '--recursive', '--only-show-errors', 's3://%s/%s' % (BUCKET, prefix), d)
    out = {}
    if p.returncode != 0:
        return None
    for root, _, files in os.walk(d):
        for n in files:
            with open(os.path.join(root, n), 'rb') as f:
                out[os.path.relpath(os.path.join(root, n), d)] = f.read()
    shutil.rmtree(d, ignore_errors=True)
    return out


def parts_of(objs):
    return [objs[k] for k in sorted(objs) if '.part_' in k]


def summary(recs):
    return '\n'.join('%s %s %s %s %s' % (r['op'], r['key'], r['status'], r.get('fault') or '', r.get('error') or '')
                     for r in recs)


def completed_parts(prefix, since):
    return sum(1 for r in log_records(since) if (r.get('key') or '').startswith(prefix) and r['status'] == 200
               and r['op'] in ('PutObject', 'CompleteMultipartUpload'))


def error_lines(err):
    """The uncaught error's message: bqlua prints it as one 'bqlua: ...' line
    (a Lua stack traceback follows)."""
    return [ln for ln in err.splitlines() if ln.startswith('bqlua: ')]


def check_nothing_left(label, prefix):
    ks = keys_at(prefix)
    ok(ks == [], '%s: nothing is at the prefix' % label, ks)
    ups = open_uploads(prefix)
    ok(ups == [], '%s: ListMultipartUploads is empty' % label, ups)


# --- 1. S3 faults ----------------------------------------------------------------------------

RANDOM_RUNS = [        # (seed, part_size): 3 parts with multipart pieces, or 25 PutObjects
    (42, PART_SIZE), (43, PART_SIZE), (44, PART_SIZE), (45, 1000000),
]


def test_clean():
    set_faults([])
    exp = expected_bytes()
    C.clean = {}
    for part_size in sorted(set(ps for _, ps in RANDOM_RUNS), reverse=True):
        prefix = 'clean%d/' % part_size
        rc, out, err, secs = run_export(prefix, part_size=part_size)
        nparts = -(-len(exp) // part_size) if part_size < len(exp) else 1
        ok(rc == 0 and 'exported %d rows in %d parts' % (ROWS, nparts) in out,
           'clean, part_size %d: 1,000,000 rows in %d parts (%.1f s)' % (part_size, nparts, secs), out + err)
        C.clean[part_size] = parts_of(download(prefix) or {})
        ok(b''.join(C.clean[part_size]) == exp,
           'clean, part_size %d: the parts hold exactly the rows as Python formats them (%d bytes)'
           % (part_size, len(exp)), [len(x) for x in C.clean[part_size]])
    C.clean_parts = C.clean[PART_SIZE]
    recs = [r for r in log_records() if (r.get('key') or '').startswith('clean%d/' % PART_SIZE)]
    ops = sorted(set(r['op'] for r in recs))
    ok({'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'PutObject'} <= set(ops),
       'clean: the 10 MB parts use multipart uploads (8 MiB pieces) and a PutObject', ops)



def test_random():
    # Truncation spares CreateMultipartUpload (it still gets errors and
    # resets): a truncated Create answer orphans an upload the server created
    # (only a lifecycle rule removes those, on S3 too). A Complete whose
    # answer is cut off is retried, gets 404 NoSuchUpload (the upload is
    # done), and bqlua confirms the object by its multipart ETag.
    acts = ['error503', 'error500', 'slowdown', 'reset', 'truncate']
    no_trunc = ['error503', 'error500', 'slowdown', 'reset']
    all_faults = []
    total = 0
    for seed, part_size in RANDOM_RUNS:
        prefix = 'rnd%d/' % seed
        set_faults([
            {'op': 'CreateMultipartUpload', 'random': 0.2, 'seed': seed + 1000, 'actions': no_trunc},
            {'op': '*', 'op_not': ['CreateMultipartUpload'],
             'random': 0.2, 'seed': seed, 'actions': acts},
        ])
        n0 = log_len()
        rc, out, err, secs = run_export(prefix, part_size=part_size, env=bq_env(AWS_MAX_ATTEMPTS='10'))
        recs = log_records(n0)
        set_faults([])
        faults = [r.get('fault') for r in recs if r.get('fault')]
        all_faults += faults
        total += len(recs)
        kinds = {f: faults.count(f) for f in sorted(set(faults))}
        note('seed %d: %d requests, %d faults %s, %.1f s' % (seed, len(recs), len(faults), kinds, secs))
        label = 'random 20%% faults, seed %d, part_size %d' % (seed, part_size)
        ok(rc == 0 and 'exported %d rows in %d parts' % (ROWS, len(C.clean[part_size])) in out,
           '%s: the export completes (%.1f s)' % (label, secs), out + err + summary(recs))
        got = parts_of(download(prefix) or {})
        ok(got == C.clean[part_size], '%s: the parts are byte-identical to the clean run' % label,
           [hashlib.sha256(x).hexdigest()[:12] for x in got])
        ups = open_uploads('')
        ok(ups == [], '%s: ListMultipartUploads is empty' % label, json.dumps(ups) + '\n' + summary(recs))
    kinds = {f: all_faults.count(f) for f in sorted(set(all_faults))}
    note('random faults overall: %d of %d requests: %s' % (len(all_faults), total, kinds))
    ok(len(all_faults) >= 0.12 * total and
       {'500 InternalError', '503 ServiceUnavailable', '503 SlowDown', 'reset', 'truncate'} <= set(kinds),
       'random faults: %d of %d requests faulted, all five kinds fired' % (len(all_faults), total), kinds)


def permanent(label, prefix, rules, want_code):
    set_faults(rules)
    n0 = log_len()
    rc, out, err, secs = run_export(prefix)
    recs = [r for r in log_records(n0) if (r.get('key') or '').startswith(prefix)]
    set_faults([])
    errs = error_lines(err)
    ok(rc != 0 and 'exported' not in out, '%s: the export fails (exit %s, %.1f s)' % (label, rc, secs),
       out + err)
    ok(rc == 1 and len(errs) == 1 and want_code in errs[0] and 's3://flt/' + prefix in errs[0],
       '%s: exit 1, one error line naming %s and the part' % (label, want_code), err)
    note('%s: %s' % (label, errs[-1] if errs else '(no error line)'))
    check_nothing_left(label, prefix)
    return recs, err


def test_permanent():
    permanent('permanent 503 on UploadPart', 'perm-up/',
              [{'op': 'UploadPart', 'status': 503, 'code': 'ServiceUnavailable'}], 'ServiceUnavailable')
    # parts 0 and 1 (multipart) complete, the last one (a PutObject) fails: both are deleted
    permanent('permanent 503 on PutObject (the last part)', 'perm-put/',
              [{'op': 'PutObject', 'status': 503, 'code': 'SlowDown'}], 'SlowDown')
    # the first part completes (2 pieces), then every piece of the second
    # fails: the completed part must be deleted
    recs, err = permanent('permanent 503 after the first part', 'perm-late/',
                          [{'op': 'UploadPart', 'key_prefix': 'perm-late/p.part_00001',
                            'status': 503, 'code': 'ServiceUnavailable'}],
                          'ServiceUnavailable')
    ok(any(r['op'] == 'CompleteMultipartUpload' and r['status'] == 200 for r in recs) and
       any(r['op'] == 'DeleteObject' and r['status'] == 204 for r in recs),
       'permanent 503 after the first part: part_00000 was completed, then deleted', summary(recs))


# --- 2. stops --------------------------------------------------------------------------------

def test_timeout():
    prefix = 'timeout/'
    n0 = log_len()
    t0 = time.monotonic()
    rc, out, err, _ = bqtest.finish(start_export(prefix, rows=100000000, part_size=5000000, opts=['--timeout', '4']),
                                    300)
    secs = time.monotonic() - t0
    done = completed_parts(prefix, n0)
    ok(rc == 4 and secs < 4 + 5, '--timeout 4 mid-export: exit 4 within 9 s (got %s after %.1f s)' % (rc, secs),
       err)
    ok(done >= 2, '--timeout 4: parts had been completed before the limit (%d)' % done)
    ok('time limit' in err, '--timeout: the limit is named', err)
    time.sleep(0.3)
    check_nothing_left('--timeout', prefix)


def test_memory():
    prefix = 'memory/'
    n0 = log_len()
    rc, out, err, secs = bqtest.finish(start_export(prefix, rows=ROWS, mode='bomb', opts=['--memory-limit', '64M']),
                                       300)
    recs = [r for r in log_records(n0) if (r.get('key') or '').startswith(prefix)]
    ok(rc == 4 and 'exported %d rows in 3 parts' % ROWS in out,
       '--memory-limit 64M: the export completes, the bomb after it ends the script with exit 4 (%.1f s)' % secs,
       out + err)
    ok('memory limit' in err, '--memory-limit: the limit is named', err)
    ok(any(r['op'] == 'AbortMultipartUpload' and r['key'] == prefix + 'side.bin' and r['status'] == 204
           for r in recs), '--memory-limit: the s3.writer left open is aborted', summary(recs))
    ks = keys_at(prefix)
    ok(ks == [prefix + 'p.part_0000%d' % i for i in range(3)],
       '--memory-limit: the completed export stays (its 3 parts, no side object)', ks)
    ok(parts_of(download(prefix) or {}) == C.clean_parts, '--memory-limit: the parts are byte-identical')
    ok(open_uploads(prefix) == [], '--memory-limit: ListMultipartUploads is empty')


# --- 4. credential expiry --------------------------------------------------------------------

class CredsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        if self.path != '/creds' or self.headers.get('Authorization') != srv.token:
            srv.refused += 1
            body = b'{"message":"unauthorized"}'
            self.send_response(401)
        else:
            with srv.lock:
                srv.served += 1
                akid = 'ASIAFLTROT%06d' % srv.served
                secret = secrets.token_urlsafe(30)[:40]
                token = 'FLTTOKEN' + secrets.token_hex(40)
                # registered with the front before it is handed out
                with open(srv.creds_file, 'a') as f:
                    f.write('%s %s %s\n' % (akid, secret, token))
                srv.keys.append(akid)
            exp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + srv.lifetime))
            body = json.dumps({'AccessKeyId': akid, 'SecretAccessKey': secret, 'Token': token,
                               'Expiration': exp, 'RoleArn': 'arn:aws:iam::123456789012:role/flt'}).encode()
            self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_creds():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), CredsHandler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.served = srv.refused = 0
    srv.keys = []
    srv.token = 'flt-container-auth-' + secrets.token_hex(8)
    srv.creds_file = C.s3['S3_CREDENTIALS_FILE']
    srv.lifetime = 302          # just past the S3 layer's 300 s margin
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        prefix = 'creds/'
        env = bq_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                     AWS_CONTAINER_CREDENTIALS_FULL_URI='http://127.0.0.1:%d/creds' % srv.server_address[1],
                     AWS_CONTAINER_AUTHORIZATION_TOKEN=srv.token)
        # slow enough to span several refreshes: every UploadPart/PutObject stalls 3 s
        set_faults([{'op': 'UploadPart', 'action': 'stall', 'seconds': 3},
                    {'op': 'PutObject', 'action': 'stall', 'seconds': 3}])
        n0 = log_len()
        rc, out, err, secs = run_export(prefix, rows=ROWS, part_size=3000000, env=env)
        set_faults([])
        recs = [r for r in log_records(n0) if r.get('access_key')]
        signed = sorted(set(r['access_key'] for r in recs if r['access_key'].startswith('ASIAFLTROT')))
        others = sorted(set(r['access_key'] for r in recs) - set(signed))
        note('credentials: %.1f s, endpoint served %d pairs (%d refused), front saw %d of them over %d requests'
             % (secs, srv.served, srv.refused, len(signed), len(recs)))
        ok(rc == 0 and 'exported %d rows' % ROWS in out,
           'rotating container credentials: the export completes (%.1f s)' % secs, out + err)
        ok(srv.served >= 3 and srv.refused == 0,
           'the endpoint served %d key pairs (>= 3), none refused' % srv.served)
        ok(len(signed) >= 3 and not others,
           'the front saw requests signed with %d rotated keys (>= 3), no other key' % len(signed),
           (signed, others))
        bad = [r for r in recs if r['status'] in (400, 403)]
        ok(not bad, 'no request was refused for its credentials', summary(bad))
        got = parts_of(download(prefix) or {})
        ok(b''.join(got) == expected_bytes() and len(got) == 9,
           'rotating credentials: the 9 parts are byte-identical to the rows', [len(x) for x in got])
        ok(srv.token not in out + err and not any(k in out + err for k in ('FLTTOKEN',)),
           'no token in what bqlua printed')
    finally:
        srv.shutdown()
        srv.server_close()


# --- 3. database loss ------------------------------------------------------------------------

def test_db_loss():
    prefix = 'dbloss/'
    n0 = log_len()
    p = start_export(prefix, rows=100000000, part_size=5000000)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None and completed_parts(prefix, n0) < 2:
        time.sleep(0.05)
    ok(completed_parts(prefix, n0) >= 2, 'DB loss: parts were completed before the kill')
    os.kill(int(C.db['MYSQL_PID']), signal.SIGKILL)
    rc, out, err, secs = bqtest.finish(p, 120)
    errs = error_lines(err)
    note('DB loss: exit %s after %.1f s: %s' % (rc, secs, errs[-1] if errs else '(no error line)'))
    ok(rc not in (0, None) and rc > 0 and rc < 128 and secs < 30,
       'MariaDB SIGKILLed mid-export: non-zero exit, no crash, within 30 s (exit %s after %.1f s)' % (rc, secs),
       err)
    ok(len(errs) == 1 and any(w in errs[0].lower() for w in ('lost connection', 'gone away', 'server')),
       'DB loss: one clear error line naming the lost server', err)
    time.sleep(0.3)
    check_nothing_left('DB loss', prefix)
    C.db_killed = True


def main():
    C.bqlua, = bqtest.args('BQLUA')
    C.tmp = tempfile.mkdtemp(prefix='bqlua-faults-')
    C.lua = os.path.join(C.tmp, 'export.lua')
    with open(C.lua, 'w') as f:
        f.write(EXPORT_LUA)
    C.faults = os.path.join(C.tmp, 'faults.json')
    bqtest.cleanup_on_signals(C.tmp)
    t_all = time.monotonic()
    try:
        C.db = (bqtest.start_server(bqtest.MARIADB_SERVER, os.path.join(C.tmp, 'db'), '--no-tls', timeout=180)
                or bqtest.bail('MariaDB did not start'))
        C.s3 = (bqtest.start_server(bqtest.S3_SERVER, os.path.join(C.tmp, 's3'), '--bucket', BUCKET,
                                    '--faults', C.faults)
                or bqtest.bail('the S3 test server did not start'))
        C.endpoint = C.s3['S3_ENDPOINT']
        C.clean_parts = None
        only = os.environ.get('BQLUA_TEST_ONLY')
        # test_db_loss kills the server: last
        for t in (test_clean, test_random, test_permanent, test_timeout, test_memory, test_creds,
                  test_db_loss):
            if only and t is not test_clean and not any(o in t.__name__ for o in only.split(',')):
                continue
            t0 = time.monotonic()
            try:
                t()
            except Exception:
                import traceback
                ok(False, '%s raised' % t.__name__, traceback.format_exc())
            note('%s: %.1f s' % (t.__name__, time.monotonic() - t0))
    finally:
        bqtest.cleanup(C.tmp)
    note('total %.1f s' % (time.monotonic() - t_all))
    return bqtest.done()


if __name__ == '__main__':
    sys.exit(main())
