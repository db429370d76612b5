#!/usr/bin/python3
"""Integration tests of S3 cleanup and of S3 failures, against the S3 test
server started with --faults (scripts/s3-test-server.sh).

  * cleanup: SIGTERM, --timeout and --memory-limit while an s3.writer is
    uploading parts abort the multipart upload (SPEC §2): the request log
    shows AbortMultipartUpload, ListMultipartUploads is empty, no object;
    also when the script is stuck in a C call and the watchdog's hard stop
    has to do it.
  * faults: 503 SlowDown, 500 InternalError and connection resets mid-body
    are retried (the log shows each attempt); made permanent, they fail
    after AWS_MAX_ATTEMPTS attempts with a structured error; a bucket in
    another region (301 PermanentRedirect, x-amz-bucket-region) is followed
    once, re-signed for that region.
  * a lost CompleteMultipartUpload answer (the upload completed, the retry
    gets 404 NoSuchUpload): the writer succeeds when the object's ETag is the
    one its parts make (the front emulates S3's multipart ETags), and fails
    with NoSuchUpload when the object was replaced or deleted meanwhile.
    (conn:export closes its parts through the same writer; it needs MariaDB,
    so it is covered by the fault campaign, not here.)

Prints TAP. usage: run_s3_faults.py BQLUA
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'lib'))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402
sys.path.insert(0, HERE)
import run_s3 as R   # noqa: E402  (bqlua(), base_env(), aws())

BUCKET = 'bqlua-faults'
MiB = 1024 * 1024


def log_records(ctx):
    with open(ctx.env['S3_REQUEST_LOG']) as f:
        return [json.loads(line) for line in f if line.strip()]


def records_for(ctx, key_prefix, since=0):
    return [r for r in log_records(ctx)[since:] if (r.get('key') or '').startswith(key_prefix)]


def set_faults(ctx, rules):
    tmp = ctx.faults + '.tmp'
    with open(tmp, 'w') as f:
        json.dump({'rules': rules}, f)
    os.replace(tmp, ctx.faults)   # a new inode: the front starts its counters over


def open_uploads(ctx, prefix):
    p = R.aws(ctx, 's3api', 'list-multipart-uploads', '--bucket', BUCKET, '--prefix', prefix)
    if p.returncode != 0:
        return None, p.stderr.decode()
    return json.loads(p.stdout or b'{}').get('Uploads', []), p.stdout.decode()


def object_exists(ctx, key):
    p = R.aws(ctx, 's3api', 'head-object', '--bucket', BUCKET, '--key', key)
    return p.returncode == 0


def summary(recs):
    return '\n'.join('%s %s %s %s' % (r['op'], r['status'], r.get('fault') or '', r.get('error') or '')
                     for r in recs)


# --- cleanup ---------------------------------------------------------------------------------

WRITER_LOOP = r'''
local B, key, mode = ...
local w = s3.writer("s3://" .. B .. "/" .. key, {part_size = 5 * 1024 * 1024})
local block = string.rep("x", 1024 * 1024)
local n = 0
while true do
  w:write(block)
  n = n + 1
  if mode == "bomb" and n == 16 then           -- three parts handed over: then a bomb
    local t = {}
    while true do t[#t + 1] = string.rep("m", 1024 * 1024 - 64) .. #t end
  elseif mode == "stuck" and n == 16 then      -- a C call no hook reaches
    local s = string.rep("a", 3000)
    s:find(".-.-.-.-.-.-b")
  end
end
'''


def start_writer(ctx, key, mode='loop', opts=()):
    path = os.path.join(ctx.tmp, 'writer_%s.lua' % mode)
    with open(path, 'w') as f:
        f.write(WRITER_LOOP)
    cmd = [ctx.bqlua, '--endpoint', ctx.endpoint] + list(opts) + [path, BUCKET, key, mode]
    return subprocess.Popen(cmd, env=R.base_env(ctx, AWS_MAX_ATTEMPTS='3'), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def wait_parts(ctx, key, n, proc, limit=60):
    """Waits until n UploadPart answers 200 for key are in the log."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and proc.poll() is None:
        if sum(1 for r in records_for(ctx, key) if r['op'] == 'UploadPart' and r['status'] == 200) >= n:
            return True
        time.sleep(0.05)
    return False


def check_cleaned(ctx, label, key, rc, want_rc, secs, max_secs, err):
    # the front logs a request after answering it: give the last line a moment
    for _ in range(40):
        recs = records_for(ctx, key)
        if any(r['op'] == 'AbortMultipartUpload' for r in recs):
            break
        time.sleep(0.05)
    ok(rc == want_rc and secs < max_secs, '%s: exit %d within %g s (got %s after %.1f s)'
       % (label, want_rc, max_secs, rc, secs), err)
    aborts = [r for r in recs if r['op'] == 'AbortMultipartUpload']
    ok(any(r['status'] == 204 for r in aborts), '%s: the log shows AbortMultipartUpload (204)' % label,
       summary(recs) + '\n' + err)
    ups, raw = open_uploads(ctx, key)
    ok(ups == [], '%s: ListMultipartUploads is empty' % label, raw)
    ok(not object_exists(ctx, key), '%s: no object at the key' % label)


def test_sigterm(ctx):
    key = 'cleanup/sigterm.bin'
    p = start_writer(ctx, key)
    started = wait_parts(ctx, key, 2, p)
    ok(started, 'SIGTERM: the writer has uploaded 2 parts')
    p.send_signal(signal.SIGTERM)
    rc, _, err, secs = bqtest.finish(p, 30)
    check_cleaned(ctx, 'SIGTERM', key, rc, 143, secs, 5, err)
    ok('upload aborted' in err and 'signal 15' in err, 'SIGTERM: the abort and the signal are logged', err)


def test_timeout(ctx):
    key = 'cleanup/timeout.bin'
    t0 = time.monotonic()
    p = start_writer(ctx, key, opts=['--timeout', '2'])
    _, err = p.communicate(timeout=60)
    secs = time.monotonic() - t0
    err = err.decode('utf-8', 'replace')
    parts = [r for r in records_for(ctx, key) if r['op'] == 'UploadPart' and r['status'] == 200]
    ok(len(parts) >= 1, '--timeout 2: parts were uploaded before the limit (%d)' % len(parts))
    check_cleaned(ctx, '--timeout 2', key, p.returncode, 4, secs, 2 + 5, err)
    ok('time limit' in err, '--timeout 2: the limit is named', err)


def test_memory(ctx):
    key = 'cleanup/memory.bin'
    t0 = time.monotonic()
    p = start_writer(ctx, key, mode='bomb', opts=['--memory-limit', '64M'])
    _, err = p.communicate(timeout=60)
    secs = time.monotonic() - t0
    err = err.decode('utf-8', 'replace')
    check_cleaned(ctx, '--memory-limit 64M bomb', key, p.returncode, 4, secs, 30, err)
    ok('memory limit' in err, '--memory-limit: the limit is named', err)


def test_hard_stop(ctx):
    key = 'cleanup/stuck.bin'
    p = start_writer(ctx, key, mode='stuck')
    started = wait_parts(ctx, key, 2, p)
    time.sleep(0.5)                 # into the endless find
    p.send_signal(signal.SIGTERM)
    rc, _, err, secs = bqtest.finish(p, 30)
    ok(started and 'did not stop in time' in err,
       'stuck in string.find after SIGTERM: the watchdog ends it', err)
    check_cleaned(ctx, 'watchdog hard stop', key, rc, 143, secs, 3 + 4, err)


# --- faults ----------------------------------------------------------------------------------

def run_lua(ctx, code, args=(), opts=None, attempts='3'):
    return R.bqlua(ctx, R.LUA_HELPERS + code, args=[BUCKET] + list(args), opts=opts,
                   env=R.base_env(ctx, AWS_MAX_ATTEMPTS=attempts))


def test_retried(ctx):
    set_faults(ctx, [
        {'op': 'PutObject', 'key_prefix': 'f/put', 'count': 2, 'status': 503, 'code': 'SlowDown'},
        {'op': 'GetObject', 'key_prefix': 'f/put', 'count': 1, 'status': 500, 'code': 'InternalError'},
        {'op': 'PutObject', 'key_prefix': 'f/reset', 'count': 1, 'action': 'reset'},
    ])
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
local body = string.rep("0123456789abcdef", 65536)     -- 1 MiB: a reset lands mid-body
s3.put("s3://" .. B .. "/f/put.bin", body)
check(s3.get("s3://" .. B .. "/f/put.bin") == body, "get")
print("retried ok")
''')
    ok(rc == 0 and 'retried ok' in out, 'put/get succeed through 503 SlowDown and 500', out + err)
    # libcurl itself resends a request whose reused connection was reset,
    # before bqlua sees the failure: the reset comes first in a process of
    # its own, on a fresh connection, so the retry seen is bqlua's.
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
local body = string.rep("0123456789abcdef", 65536)    -- 1 MiB: the reset lands mid-body
s3.put("s3://" .. B .. "/f/reset.bin", body)
check(s3.get("s3://" .. B .. "/f/reset.bin") == body, "get after reset")
print("reset ok")
''')
    ok(rc == 0 and 'reset ok' in out, 'a put succeeds through a connection reset mid-body', out + err)
    recs = records_for(ctx, 'f/put', n0)
    puts = [(r['status'], r.get('fault')) for r in recs if r['op'] == 'PutObject']
    ok(puts == [(503, '503 SlowDown'), (503, '503 SlowDown'), (200, None)],
       'the log shows PutObject answered 503, 503, then 200', summary(recs))
    gets = [(r['status'], r.get('fault')) for r in recs if r['op'] == 'GetObject']
    ok(gets == [(500, '500 InternalError'), (200, None)], 'the log shows GetObject answered 500, then 200',
       summary(recs))
    recs = records_for(ctx, 'f/reset', n0)
    puts = [(r['status'], r.get('fault')) for r in recs if r['op'] == 'PutObject']
    ok(puts == [(None, 'reset'), (200, None)], 'a PutObject reset mid-body is sent again', summary(recs))

    # the writer: every multipart call fails once, two parts are throttled
    set_faults(ctx, [
        {'op': 'CreateMultipartUpload', 'count': 1, 'status': 500, 'code': 'InternalError'},
        {'op': 'UploadPart', 'count': 2, 'status': 503, 'code': 'SlowDown'},
        {'op': 'UploadPart', 'skip': 1, 'count': 1, 'action': 'reset'},
        {'op': 'CompleteMultipartUpload', 'count': 1, 'status': 503, 'code': 'SlowDown'},
    ])
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
local w = s3.writer("s3://" .. B .. "/f/writer.bin", {part_size = 5 * 1024 * 1024})
local block = {}
for i = 0, 4095 do block[#block + 1] = string.char(i * 7 % 256) end
block = table.concat(block)
for i = 1, 11 * 256 + 10 do w:write(block) end            -- 11 MiB + 40 KiB: 3 parts
local r = w:close()
print(r.parts, r.size)
local got = s3.get("s3://" .. B .. "/f/writer.bin")
check(got == string.rep(block, 11 * 256 + 10), "content")
print("writer ok")
''', attempts='4')
    recs = records_for(ctx, 'f/writer', n0)
    ok(rc == 0 and 'writer ok' in out, 'a writer succeeds through 500, SlowDown and a reset on every step',
       out + err + summary(recs))
    faults = sorted(r['fault'] for r in recs if r.get('fault'))
    ok(faults == ['500 InternalError', '503 SlowDown', '503 SlowDown', '503 SlowDown', 'reset'],
       'the log shows the five injected faults, each retried', summary(recs))
    ok(sum(1 for r in recs if r['op'] == 'CompleteMultipartUpload' and r['status'] == 200) == 1,
       'CompleteMultipartUpload succeeds once', summary(recs))


def test_permanent(ctx):
    set_faults(ctx, [
        {'op': 'PutObject', 'key_prefix': 'f/perm-503', 'status': 503, 'code': 'SlowDown'},
        {'op': 'PutObject', 'key_prefix': 'f/perm-reset', 'action': 'reset'},
        {'op': 'UploadPart', 'key_prefix': 'f/perm-writer', 'status': 500, 'code': 'InternalError'},
    ])
    n0 = len(log_records(ctx))
    rc, out, err, secs = run_lua(ctx, r'''
local B = ...
local body = string.rep("p", 600 * 1024)
local ok, e = pcall(s3.put, "s3://" .. B .. "/f/perm-503.bin", body)
check(not ok and type(e) == "table", "raises a table")
check(e.code == "SlowDown" and e.status == 503 and e.retryable == true, "503: " .. tostring(e))
check(e.uri == "s3://" .. B .. "/f/perm-503.bin" and e.request_id ~= nil, "uri, request id")
print("permanent ok")
''', attempts='3')
    ok(rc == 0 and 'permanent ok' in out,
       'a permanent 503 SlowDown fails with a structured error (code, status, retryable, uri)', out + err)
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
local ok, e = pcall(s3.put, "s3://" .. B .. "/f/perm-reset.bin", string.rep("p", 600 * 1024))
check(not ok and type(e) == "table", "reset raises a table")
check(e.code == "BrokenConnection" and e.retryable == true, "reset: " .. tostring(e.code) .. " " .. tostring(e))
print("permanent ok")
''', attempts='3')
    ok(rc == 0 and 'permanent ok' in out,
       'permanent resets fail with a structured error (BrokenConnection, retryable)', out + err)
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
local w = s3.writer("s3://" .. B .. "/f/perm-writer.bin", {part_size = 5 * 1024 * 1024})
local ok, e = pcall(function() for i = 1, 11 do w:write(string.rep("w", 1024 * 1024)) end w:close() end)
check(not ok and type(e) == "table" and e.code == "InternalError" and e.status == 500, "writer: " .. tostring(e))
print("permanent ok")
''', attempts='3')
    ok(rc == 0 and 'permanent ok' in out, 'a writer whose parts always fail with 500 raises InternalError',
       out + err)
    for prefix, want in (('f/perm-503', 3), ('f/perm-reset', 3)):
        recs = [r for r in records_for(ctx, prefix, n0) if r['op'] == 'PutObject']
        ok(len(recs) == want and all(r.get('fault') for r in recs),
           '%s: exactly AWS_MAX_ATTEMPTS=3 attempts' % prefix, summary(recs))
    recs = records_for(ctx, 'f/perm-writer', n0)
    ok(any(r['op'] == 'AbortMultipartUpload' and r['status'] == 204 for r in recs),
       'the failed writer aborts its upload', summary(recs))
    ok('could not abort' not in err and 'upload aborted' in err, 'the failed writer logs the abort', err)
    ups, raw = open_uploads(ctx, 'f/perm-writer')
    ok(ups == [], 'no upload is left open', raw)
    # one attempt only
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, 'local B = ...; print(pcall(s3.put, "s3://" .. B .. "/f/perm-503.x", "x"))',
                              attempts='1')
    recs = [r for r in records_for(ctx, 'f/perm-503', n0) if r['op'] == 'PutObject']
    ok(rc == 0 and len(recs) == 1, 'AWS_MAX_ATTEMPTS=1: one attempt', out + err + summary(recs))


def test_redirect(ctx):
    set_faults(ctx, [{'op': '*', 'action': 'redirect', 'signed_region_not': 'us-east-1'}])
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, r'''
local B = ...
s3.put("s3://" .. B .. "/f/region.txt", "moved")
check(s3.get("s3://" .. B .. "/f/region.txt") == "moved", "get")
check(s3.head("s3://" .. B .. "/f/region.txt").size == 5, "head")
print("redirect ok")
''', opts=['--endpoint', ctx.endpoint, '--region', 'us-west-2'])
    recs = records_for(ctx, 'f/region', n0)
    ok(rc == 0 and 'redirect ok' in out, '--region us-west-2 against a bucket in us-east-1 succeeds',
       out + err + summary(recs))
    seen = [(r['op'], r['status'], r.get('sign_region')) for r in recs]
    ok(seen == [('PutObject', 301, 'us-west-2'), ('PutObject', 200, 'us-east-1'),
                ('GetObject', 200, 'us-east-1'), ('HeadObject', 200, 'us-east-1')],
       'one 301 PermanentRedirect, then every request re-signed for us-east-1', '\n'.join(map(str, seen)))
    set_faults(ctx, [])


LOST_WRITER = r'''
local B, key = ...
local uri = "s3://" .. B .. "/" .. key
local w = s3.writer(uri, {part_size = 5 * 1024 * 1024})
local block = {}
for i = 0, 4095 do block[#block + 1] = string.char(i * 7 % 256) end
block = table.concat(block)
for i = 1, 11 * 256 + 10 do w:write(block) end            -- 11 MiB + 40 KiB: 3 parts
local r = w:close()
print("etag " .. r.etag .. " parts " .. r.parts)
local want = string.rep(block, 11 * 256 + 10)
check(s3.get(uri) == want, "content")
check(s3.head(uri).etag == r.etag, "head etag " .. s3.head(uri).etag .. " vs " .. r.etag)
local lines = {}
for l in s3.lines(uri) do lines[#lines + 1] = l end      -- HEAD, then ranged GETs with If-Match
check(table.concat(lines, "\n") == want, "s3.lines")
print("lost ok")
'''


def lost_content():
    block = bytes(i * 7 % 256 for i in range(4096))
    return block * (11 * 256 + 10)


def multipart_etag(data, part_size):
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    return '"%s-%d"' % (hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


def test_lost_complete(ctx):
    data = lost_content()
    want = multipart_etag(data, 5 * MiB)
    set_faults(ctx, [
        {'op': 'CompleteMultipartUpload', 'key_prefix': 'f/lost-ok', 'count': 1, 'action': 'lose'},
        {'op': 'CompleteMultipartUpload', 'key_prefix': 'f/lost-replaced', 'count': 1, 'action': 'lose',
         'then': 'overwrite'},
        {'op': 'CompleteMultipartUpload', 'key_prefix': 'f/lost-deleted', 'count': 1, 'action': 'lose',
         'then': 'delete'},
        {'op': 'CompleteMultipartUpload', 'key_prefix': 'f/first-nosuchupload', 'count': 1, 'status': 404,
         'code': 'NoSuchUpload'},
    ])
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, LOST_WRITER, args=['f/lost-ok.bin'])
    recs = records_for(ctx, 'f/lost-ok', n0)
    ok(rc == 0 and 'lost ok' in out,
       'a writer whose Complete answer is lost succeeds; the object reads back (get, s3.lines) identical',
       out + err + summary(recs))
    ok('etag %s parts 3' % want in out, 'w:close() returns the multipart ETag %s, computed here from the parts'
       % want, out)
    seen = [(r['op'], r['status'], r.get('fault') or r.get('error')) for r in recs
            if r['op'] in ('CompleteMultipartUpload', 'HeadObject')][:3]
    ok(seen == [('CompleteMultipartUpload', None, 'lose'), ('CompleteMultipartUpload', 404, 'NoSuchUpload'),
                ('HeadObject', 200, None)],
       'the log shows the lost Complete, the retry answered NoSuchUpload, then the HEAD that verifies',
       summary(recs))
    ok('was lost' in err and 'verified by its ETag %s' % want in err,
       'the verification is logged (warn)', err)
    ups, raw = open_uploads(ctx, 'f/lost-ok')
    ok(ups == [], 'no multipart upload is left open', raw)
    ok(not any(r['op'] in ('AbortMultipartUpload', 'DeleteObject') for r in recs),
       'nothing is aborted or deleted', summary(recs))

    for key, why in (('f/lost-replaced.bin', 'the object there has ETag "'),
                     ('f/lost-deleted.bin', 'no object at the key')):
        n0 = len(log_records(ctx))
        rc, out, err, _ = run_lua(ctx, LOST_WRITER, args=[key])
        recs = records_for(ctx, key, n0)
        ok(rc == 1 and 'lost ok' not in out and 'NoSuchUpload' in err and
           'cannot be confirmed as completed' in err and why in err,
           '%s: the lost Complete cannot be verified -> exit 1, NoSuchUpload, "%s"' % (key, why),
           '%d\n' % rc + out + err + summary(recs))
        ok('verified by its ETag' not in err, '%s: no verification is claimed' % key, err)
        ups, raw = open_uploads(ctx, key)
        ok(ups == [], '%s: no multipart upload is left open' % key, raw)
    p = R.aws(ctx, 's3api', 'get-object', '--bucket', BUCKET, '--key', 'f/lost-replaced.bin',
              os.path.join(ctx.tmp, 'replaced.out'))
    with open(os.path.join(ctx.tmp, 'replaced.out'), 'rb') as f:
        ok(p.returncode == 0 and f.read().startswith(b'replaced by'),
           'the replacing object is left alone', p.stderr)

    # NoSuchUpload with nothing completed (the upload is still open): the
    # HEAD finds no object, the writer fails and aborts its upload
    n0 = len(log_records(ctx))
    rc, out, err, _ = run_lua(ctx, LOST_WRITER, args=['f/first-nosuchupload.bin'])
    recs = records_for(ctx, 'f/first-nosuchupload', n0)
    ok(rc == 1 and 'NoSuchUpload' in err and 'no object at the key' in err and
       any(r['op'] == 'HeadObject' and r['status'] == 404 for r in recs),
       'NoSuchUpload from a Complete that did nothing: exit 1, "no object at the key"',
       out + err + summary(recs))
    ok(any(r['op'] == 'AbortMultipartUpload' and r['status'] == 204 for r in recs) and
       open_uploads(ctx, 'f/first-nosuchupload')[0] == [],
       'the writer aborts the upload that was still open', summary(recs))
    set_faults(ctx, [])


def test_wrong_etag(ctx):
    # Over plain HTTP a streamed part (UNSIGNED-PAYLOAD) is checked against
    # the ETag S3 answers: a part S3 got other bytes for (the front answers
    # the MD5 of other bytes) is sent again whole and signed, and the object
    # is intact, with the ETag its parts make.
    data = lost_content()
    want = multipart_etag(data, 5 * MiB)
    set_faults(ctx, [{'op': 'UploadPart', 'key_prefix': 'f/wrong-etag', 'payload': 'UNSIGNED-PAYLOAD',
                      'count': 1, 'action': 'etag'}])
    n0 = len(log_records(ctx))
    # (written at a pace, so that a worker is surely streaming part 2 before it is full)
    paced = LOST_WRITER.replace('w:write(block) end', 'w:write(block) if i % 64 == 0 then task.sleep(0.01) end end')
    ok(paced != LOST_WRITER, '(the paced writer)')
    rc, out, err, _ = run_lua(ctx, paced, args=['f/wrong-etag.bin'])
    recs = records_for(ctx, 'f/wrong-etag', n0)
    parts = [(r['query'].split('&')[0], r['payload'], r['status'], r.get('fault')) for r in recs
             if r['op'] == 'UploadPart']
    hit = [p for p in parts if p[3] == 'etag']
    ok(len(hit) == 1 and hit[0][1] == 'UNSIGNED-PAYLOAD' and hit[0][2] == 200,
       'the streamed part got an ETag that is not its MD5', parts)
    ok(rc == 0 and 'lost ok' in out and 'etag %s parts 3' % want in out,
       'the writer succeeds: the object reads back identical, with the ETag its parts make', out + err + summary(recs))
    ok('is not the MD5 of the bytes sent; sending the part again' in err, 'the mismatch is logged (warn)', err)
    ok(hit and (hit[0][0], 'sha256', 200, None) in parts[parts.index(hit[0]) + 1:],
       'that part is sent again whole and SHA-256 signed', parts)
    set_faults(ctx, [])


def test_abort_in_flight(ctx):
    # Every UploadPart stalls 20 s at the front: the first part (whole) and
    # the second (streamed) hang in flight. w:abort() gives both up at once,
    # instead of waiting for parts that would be thrown away.
    set_faults(ctx, [{'op': 'UploadPart', 'action': 'stall', 'seconds': 20}])
    key = 'inflight/abort.bin'
    n0 = len(log_records(ctx))
    rc, out, err, secs = run_lua(ctx, r'''
local B, key = ...
local w = s3.writer("s3://" .. B .. "/" .. key, {part_size = 5 * 1024 * 1024})
for i = 1, 7 do w:write(string.rep("p", 1024 * 1024)) end   -- part 1 whole, part 2 streaming
task.sleep(1)                                              -- both reach the stalled front
w:abort()
print("aborted")
''', args=[key])
    set_faults(ctx, [])
    ok(rc == 0 and 'aborted' in out and secs < 10,
       'w:abort() with two parts stalled in flight returns at once (%.1f s; the stall is 20 s)' % secs,
       out + err)
    recs = records_for(ctx, key, n0)
    for _ in range(40):
        if any(r['op'] == 'AbortMultipartUpload' for r in recs):
            break
        time.sleep(0.05)
        recs = records_for(ctx, key, n0)
    ok(any(r['op'] == 'AbortMultipartUpload' and r['status'] == 204 for r in recs),
       'the upload was aborted (204)', summary(recs))
    ups, raw = open_uploads(ctx, key)
    ok(ups == [] and not object_exists(ctx, key), 'no open upload and no object at the key', raw)


def main():
    ctx = R.Ctx()
    ctx.bqlua, = bqtest.args('BQLUA')
    ctx.tmp = tempfile.mkdtemp(prefix='bqlua-s3f-')
    srv = os.path.join(ctx.tmp, 'srv')
    os.makedirs(srv)
    ctx.faults = os.path.join(ctx.tmp, 'faults.json')
    try:
        # A missing service is a failure, never a skip.
        ctx.env = (bqtest.start_server(bqtest.S3_SERVER, srv, '--bucket', BUCKET, '--faults', ctx.faults)
                   or bqtest.bail('the S3 test server did not start'))
        ctx.endpoint = ctx.env['S3_ENDPOINT']
        only = os.environ.get('BQLUA_TEST_ONLY')
        for t in (test_sigterm, test_timeout, test_memory, test_hard_stop,
                  test_retried, test_permanent, test_redirect, test_lost_complete, test_wrong_etag,
                  test_abort_in_flight):
            if not only or only in t.__name__:
                t(ctx)
    finally:
        bqtest.cleanup(ctx.tmp)
    return bqtest.done()


if __name__ == '__main__':
    sys.exit(main())
