#!/usr/bin/python3
"""Integration tests of the `s3` binding and of tasks loaded from S3.

Starts scripts/s3-test-server.sh (s3rver behind the SigV4-verifying front)
in a temp dir, runs Lua scripts through bqlua against it and against
--s3-root, cross-checks with Debian's AWS CLI, prints TAP.

usage: run_s3.py BQLUA
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'lib'))
import bqtest  # noqa: E402
from bqtest import ok, run  # noqa: E402

AWS = '/usr/bin/aws'
BUCKET = 'bqlua-s3-test'


class Ctx:
    pass


def base_env(ctx, **extra):
    env = {'HOME': ctx.tmp}        # no ~/.aws of the machine
    for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'):
        env[k] = ctx.env[k]
    env['AWS_MAX_ATTEMPTS'] = '2'
    env.update(extra)
    return bqtest.clean_env(env)


def bqlua(ctx, code, args=(), opts=None, env=None, timeout=180):
    """Runs code (a Lua chunk) with bqlua; returns (rc, stdout, stderr, seconds)."""
    path = os.path.join(ctx.tmp, 'script_%d.lua' % bqtest.count())
    with open(path, 'w') as f:
        f.write(code)
    if opts is None:
        opts = ['--endpoint', ctx.endpoint]
    cmd = [ctx.bqlua] + list(opts) + [path] + list(args)
    return run(cmd, env if env is not None else base_env(ctx), timeout)


def aws(ctx, *args, input=None):
    env = base_env(ctx)
    p = subprocess.run([AWS, '--endpoint-url', ctx.endpoint] + list(args), env=env,
                       capture_output=True, input=input, timeout=300)
    return p


def request_count(ctx):
    try:
        with open(ctx.env['S3_REQUEST_LOG']) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


LUA_HELPERS = r'''
local function check(cond, msg) if not cond then error(msg or "check failed", 2) end end
local function catch(f, ...) local ok, e = pcall(f, ...); check(not ok, "expected an error"); return e end
'''

# --- the API on either backend ------------------------------------------------------------

API_TEST = LUA_HELPERS + r'''
local B = ...
local bin = "a\0b\255\254c\r\nline two\n\n" .. string.rep("x", 3000) .. "\nlast"
local etag = s3.put("s3://" .. B .. "/api/bin.dat", bin, {content_type = "application/x-test", metadata = {owner = "bq"}})
check(type(etag) == "string" and #etag > 0, "etag")
check(s3.get("s3://" .. B .. "/api/bin.dat") == bin, "binary round trip")
check(s3.get(B, "api/bin.dat") == bin, "bucket,key form")
check(s3.get("s3://" .. B .. "/api/bin.dat", {range = "bytes=1-4"}) == "\0b\255\254", "range")
local h = s3.head("s3://" .. B .. "/api/bin.dat")
check(h and h.size == #bin, "head size")
check(h.etag == etag, "head etag " .. tostring(h.etag) .. " vs " .. etag)
check(type(h.last_modified) == "string" and #h.last_modified > 0, "last_modified")
check(s3.head("s3://" .. B .. "/api/missing") == nil, "head of missing is nil")
-- lines: no terminator, last line without one counts, empty lines kept
local got = {}
for l in s3.lines("s3://" .. B .. "/api/bin.dat") do got[#got + 1] = l end
local want = {}
for l in (bin .. "\n"):gmatch("(.-)\n") do want[#want + 1] = l end
check(#got == #want, "line count " .. #got .. " vs " .. #want)
for i = 1, #want do check(got[i] == want[i], "line " .. i) end
-- empty object
s3.put("s3://" .. B .. "/api/empty", "")
check(s3.get("s3://" .. B .. "/api/empty") == "", "empty object")
local n = 0
for _ in s3.lines("s3://" .. B .. "/api/empty") do n = n + 1 end
check(n == 0, "no lines in an empty object")
-- list, key order, all pages
for i = 1, 5 do s3.put(("s3://%s/api/list/k%02d"):format(B, i), ("v"):rep(i)) end
local keys = {}
for o in s3.list("s3://" .. B .. "/api/list/") do keys[#keys + 1] = o.key; check(o.size == #keys, "list size") end
check(#keys == 5 and keys[1] == "api/list/k01" and keys[5] == "api/list/k05", "list keys: " .. table.concat(keys, ","))
-- writer, small (one PutObject) and <close>
do
  local w <close> = s3.writer("s3://" .. B .. "/api/small.txt")
  w:write("one ", 2, " three\n")
end
check(s3.get("s3://" .. B .. "/api/small.txt") == "one 2 three\n", "small writer via <close>")
local w = s3.writer("s3://" .. B .. "/api/w2.txt")
local r = w:write("abc"):write("def"):close()
check(r.size == 6 and r.parts == 1 and type(r.etag) == "string", "writer close result")
check(not pcall(w.write, w, "x"), "write after close is misuse")
-- delete
check(s3.delete("s3://" .. B .. "/api/w2.txt") == true, "delete")
check(s3.head("s3://" .. B .. "/api/w2.txt") == nil, "deleted")
-- structured errors
local e = catch(s3.get, "s3://" .. B .. "/api/missing")
check(type(e) == "table" and e.code == "NoSuchKey" and e.status == 404 and e.retryable == false, "NoSuchKey")
check(e.uri == "s3://" .. B .. "/api/missing", "error uri")
check(tostring(e):find("NoSuchKey", 1, true), "error tostring")
e = catch(s3.get, "s3://no-such-bucket-bq/x")
check(e.code == "NoSuchBucket" and e.status == 404, "NoSuchBucket: " .. tostring(e.code))
e = catch(function() for _ in s3.list("s3://no-such-bucket-bq/") do end end)
check(type(e) == "table" and e.code == "NoSuchBucket", "list raises NoSuchBucket")
-- misuse
e = catch(s3.get, 42)
check(type(e) == "string" and e:find("bad argument"), "bad argument")
e = catch(s3.put, "s3://" .. B .. "/k", "v", {bogus = 1})
check(type(e) == "string" and e:find("unknown option"), "unknown option")
e = catch(s3.writer, "s3://" .. B .. "/k", {part_size = 1024})
check(type(e) == "string" and e:find("part_size"), "part_size too small")
print("api ok")
'''


def test_api(ctx, label, opts, bucket):
    rc, out, err, _ = bqlua(ctx, API_TEST, args=[bucket], opts=opts)
    ok(rc == 0 and 'api ok' in out, '%s: put/get/head/lines/list/writer/delete and errors' % label,
       out + err)


# --- awkward keys, cross-checked with the AWS CLI --------------------------------------------

AWKWARD = ['sp ace/file name.txt', 'plus+sign.txt', 'tilde~x', 'eq=amp&q?x', 'utf8/été/日本.txt',
           'trailing/', 'pct%20lit', 'a,b;c:d@e']


def test_awkward_keys(ctx):
    lua = LUA_HELPERS + r'''
local B, key, body = ...
s3.put("s3://" .. B .. "/" .. key, body)
check(s3.get(B, key) == body, "readback")
local found = false
for o in s3.list("s3://" .. B .. "/awk/") do if o.key == key then found = true end end
check(found, "listed")
'''
    for k in AWKWARD:
        key = 'awk/' + k
        body = 'body of %s \x01\n' % k
        rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET, key, body])
        p = aws(ctx, 's3api', 'get-object', '--bucket', BUCKET, '--key', key, os.path.join(ctx.tmp, 'awk.out'))
        got = open(os.path.join(ctx.tmp, 'awk.out'), 'rb').read() if p.returncode == 0 else None
        ok(rc == 0 and got == body.encode(), 'awkward key %r: written by bqlua, read back by the CLI' % key,
           err + p.stderr.decode())


def test_cli_written(ctx):
    src = os.path.join(ctx.tmp, 'cli.txt')
    data = b''.join(b'row %d\t\xff\x00x\n' % i for i in range(50000)) + b'tail-no-newline'
    with open(src, 'wb') as f:
        f.write(data)
    p = aws(ctx, 's3', 'cp', src, 's3://%s/cli/rows.txt' % BUCKET)
    ok(p.returncode == 0, 'the CLI uploads a %d-byte object' % len(data), p.stderr.decode())
    lua = LUA_HELPERS + r'''
local B, n, sha_len = ...
local s = s3.get("s3://" .. B .. "/cli/rows.txt")
check(#s == tonumber(sha_len), "size")
local c, last = 0, nil
for l in s3.lines("s3://" .. B .. "/cli/rows.txt") do c = c + 1; last = l
  if c <= tonumber(n) then check(l == ("row %d\t\255\0x"):format(c - 1), "line " .. c) end
end
check(c == tonumber(n) + 1 and last == "tail-no-newline", "count " .. c)
print("cli ok")
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET, '50000', str(len(data))])
    ok(rc == 0 and 'cli ok' in out, 'an object the CLI wrote is read by s3.get and s3.lines (1 MiB ranges)',
       out + err)


# --- multipart -------------------------------------------------------------------------

def test_multipart(ctx):
    lua = LUA_HELPERS + r'''
local B = ...
local w = s3.writer("s3://" .. B .. "/mp/50mb.bin", {part_size = 5 * 1024 * 1024})
local block = {}
for i = 0, 4095 do block[#block + 1] = string.char(i % 256) end
block = table.concat(block)              -- 4 KiB
for i = 1, 12800 do w:write(block) end   -- 50 MiB
local r = w:close()
print(r.size, r.parts)
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET])
    ok(rc == 0 and out.split() == [str(50 * 1024 * 1024), '10'], 'a 50 MiB writer uploads 10 parts', out + err)
    dst = os.path.join(ctx.tmp, 'mp.bin')
    p = aws(ctx, 's3', 'cp', 's3://%s/mp/50mb.bin' % BUCKET, dst)
    block = bytes(i % 256 for i in range(4096))
    want = hashlib.sha256(block * 12800).hexdigest()
    got = hashlib.sha256(open(dst, 'rb').read()).hexdigest() if p.returncode == 0 else None
    ok(got == want, 'the CLI reads the multipart object back byte-identical', p.stderr.decode())
    os.unlink(dst)

    lua = LUA_HELPERS + r'''
local B = ...
local ok, e = pcall(function()
  local w <close> = s3.writer("s3://" .. B .. "/mp/never.bin", {part_size = 5 * 1024 * 1024})
  local s = string.rep("z", 1024 * 1024)
  for i = 1, 12 do w:write(s) end
  error("task failed")
end)
check(not ok and tostring(e):find("task failed"), "error passes through")
check(s3.head("s3://" .. B .. "/mp/never.bin") == nil, "no object")
-- unclosed writer collected
do local w = s3.writer("s3://" .. B .. "/mp/gc.bin", {part_size = 5 * 1024 * 1024}); w:write(string.rep("g", 6 * 1024 * 1024)) end
collectgarbage("collect")
check(s3.head("s3://" .. B .. "/mp/gc.bin") == nil, "no object after gc")
print("abort ok")
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET])
    ok(rc == 0 and 'abort ok' in out, 'writer <close> left by an error aborts; a collected writer aborts', out + err)
    ok('collected without close()' in err and 'left by an error' in err, 'both aborts are logged', err)
    p = aws(ctx, 's3api', 'list-multipart-uploads', '--bucket', BUCKET)
    ups = json.loads(p.stdout or b'{}').get('Uploads', []) if p.returncode == 0 else None
    ok(ups == [], 'ListMultipartUploads is empty after the aborts', p.stdout.decode() + p.stderr.decode())


def upload_parts(log, key):
    """{part number: [(status, payload), ...]} of the UploadPart requests for key in the
    request log (a path), in order."""
    parts = {}
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get('op') != 'UploadPart' or rec.get('key') != key:
                continue
            q = urllib.parse.parse_qs(rec.get('query') or '')
            n = int(q.get('partNumber', ['0'])[0])
            parts.setdefault(n, []).append((rec.get('status'), rec.get('payload')))
    return parts


def test_streamed_parts(ctx):
    # Two buffers, two parts in flight: while one part uploads, the one the
    # script fills goes out as it fills (UNSIGNED-PAYLOAD); the first part and
    # the short last one go whole (SHA-256 signed).
    parts = upload_parts(ctx.env['S3_REQUEST_LOG'], 'mp/50mb.bin')
    ok(sorted(parts) == list(range(1, 11)) and all(v[-1][0] == 200 for v in parts.values()),
       'every part of the 50 MiB writer was stored', parts)
    streamed = sorted(n for n, v in parts.items() if v[-1] == (200, 'UNSIGNED-PAYLOAD'))
    ok(parts.get(1, [(0, "")])[-1] == (200, "sha256") and len(streamed) >= 1,
       'the first part goes whole, later ones are streamed as the script writes (%s)' % streamed, parts)

    # The short last part: its stream (Content-Length part_size) ends at
    # close and it is streamed again at once with its real length, not
    # signed. (Written at a pace, so that the parts are surely streamed.)
    lua = LUA_HELPERS + r'''
local B = ...
local w = s3.writer("s3://" .. B .. "/mp/short-last.bin", {part_size = 5 * 1024 * 1024})
for i = 1, 200 do                          -- 12.5 MiB in 64 KiB writes: parts of 5, 5 and 2.5 MiB
  w:write(string.rep(string.char(65 + i % 26), 65536))
  if i % 16 == 0 then task.sleep(0.01) end
end
local r = w:close()
print(r.size, r.parts)
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET], opts=['-v', '--endpoint', ctx.endpoint])
    ok(rc == 0 and out.split() == [str(200 * 65536), '3'], 'a paced writer with a short last part completes',
       out + err)
    parts = upload_parts(ctx.env['S3_REQUEST_LOG'], 'mp/short-last.bin')
    ok(parts.get(3, [])[-2:] == [(None, 'UNSIGNED-PAYLOAD'), (200, 'UNSIGNED-PAYLOAD')] and
       'part 3: the streamed upload stopped after' in err and
       '(it is the last part, shorter than part_size); it goes again, with its length' in err,
       'the short last part\'s stream stopped at close; it was streamed again with its length', (parts, err[-1500:]))
    dst = os.path.join(ctx.tmp, 'short-last.bin')
    p = aws(ctx, 's3', 'cp', 's3://%s/mp/short-last.bin' % BUCKET, dst)
    want = b''.join(bytes([65 + i % 26]) * 65536 for i in range(1, 201))
    ok(p.returncode == 0 and open(dst, 'rb').read() == want, 'it reads back identical through the CLI', p.stderr.decode())

    # A stream that waits too long for the script's next bytes (S3 drops an
    # idle request after ~20 s) gives up; the part then goes whole once full.
    lua = LUA_HELPERS + r'''
local B = ...
local MiB = 1024 * 1024
local w = s3.writer("s3://" .. B .. "/mp/idle.bin", {part_size = 5 * MiB})
local function chunk(i) return string.rep(string.char(65 + i % 26), MiB) end
for i = 1, 6 do w:write(chunk(i)) end     -- part 1 full and uploading, part 2 streaming
task.sleep(6.5)                           -- longer than the stream waits
for i = 7, 11 do w:write(chunk(i)) end
local r = w:close()
print(r.size, r.parts)
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET], opts=['-v', '--endpoint', ctx.endpoint])
    ok(rc == 0 and out.split() == [str(11 * 1024 * 1024), '3'], 'a writer that pauses mid-part completes', out + err)
    ok(re.search(r'part 2: the streamed upload stopped after \d+ bytes \(no bytes were written for a while\)',
                 err) is not None, 'the idle stream gave up and says so (debug log)', err)
    parts = upload_parts(ctx.env['S3_REQUEST_LOG'], 'mp/idle.bin')
    ok(parts.get(2, [(0, '')])[-1] == (200, 'sha256'), 'part 2 then went whole, signed', parts)
    dst = os.path.join(ctx.tmp, 'idle.bin')
    p = aws(ctx, 's3', 'cp', 's3://%s/mp/idle.bin' % BUCKET, dst)
    want = b''.join(bytes([65 + i % 26]) * (1024 * 1024) for i in range(1, 12))
    got = open(dst, 'rb').read() if p.returncode == 0 else None
    ok(got == want, 'the CLI reads it back byte-identical', p.stderr.decode())
    if os.path.exists(dst):
        os.unlink(dst)


def test_tls(ctx):
    # S3 is HTTPS: the front again, serving TLS with a private CA's certificate.
    srv = os.path.join(ctx.tmp, 'srv-tls')
    os.makedirs(srv)
    env = bqtest.start_server(bqtest.S3_SERVER, srv, '--bucket', BUCKET, '--tls')
    if not ok(env is not None and env['S3_ENDPOINT'].startswith('https://'), 'the S3 test server serves HTTPS'):
        return
    ep, ca = env['S3_ENDPOINT'], env['S3_CA_BUNDLE']
    keys = {k: env[k] for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY')}   # this server's own
    lua = LUA_HELPERS + r'''
local B = ...
local MiB = 1024 * 1024
local w = s3.writer("s3://" .. B .. "/tls/23mb.bin", {part_size = 5 * MiB})
for i = 1, 23 do w:write(string.rep(string.char(64 + i), MiB)) end
local r = w:close()
local got = s3.get("s3://" .. B .. "/tls/23mb.bin")
check(#got == 23 * MiB and got:sub(1, 1) == "A" and got:sub(-1) == "W", "read back")
print(r.size, r.parts)
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET], opts=['--endpoint', ep, '--ca-bundle', ca],
                            env=base_env(ctx, **keys))
    ok(rc == 0 and out.split() == [str(23 * 1024 * 1024), '5'],
       'over HTTPS (--ca-bundle): a 23 MiB writer uploads 5 parts and reads them back', out + err)
    parts = upload_parts(env['S3_REQUEST_LOG'], 'tls/23mb.bin')
    ok(any(v[-1] == (200, 'UNSIGNED-PAYLOAD') for v in parts.values()),
       'over HTTPS too, parts are streamed as the script writes', parts)
    dst = os.path.join(ctx.tmp, 'tls.bin')
    p = subprocess.run([AWS, '--endpoint-url', ep, '--ca-bundle', ca, 's3', 'cp', 's3://%s/tls/23mb.bin' % BUCKET,
                        dst], env=base_env(ctx, **keys), capture_output=True, timeout=300)
    want = b''.join(bytes([64 + i]) * (1024 * 1024) for i in range(1, 24))
    got = open(dst, 'rb').read() if p.returncode == 0 else None
    ok(got == want, 'the CLI reads it back byte-identical over HTTPS', p.stderr.decode())

    rc, out, err, _ = bqlua(ctx, 'print(s3.head(...) ~= nil)', args=['s3://%s/tls/23mb.bin' % BUCKET],
                            opts=['--endpoint', ep], env=base_env(ctx, AWS_CA_BUNDLE=ca, **keys))
    ok(rc == 0 and out.strip() == 'true', 'AWS_CA_BUNDLE is used when --ca-bundle is not given', out + err)
    rc, out, err, _ = bqlua(ctx, 's3.head(...)', args=['s3://%s/tls/23mb.bin' % BUCKET], opts=['--endpoint', ep],
                            env=base_env(ctx, **keys))
    ok(rc == 1 and 'TlsError' in err and 'certificate' in err,
       'without the CA, the certificate is refused (TlsError)', err)


# --- failures -------------------------------------------------------------------------------

def test_failures(ctx):
    lua = LUA_HELPERS + r'''
local B = ...
local e = catch(s3.get, "s3://" .. B .. "/api/bin.dat")
check(type(e) == "table" and e.code == "SignatureDoesNotMatch" and e.status == 403, tostring(e.code))
check(e.request_id ~= nil, "request id")
print("sig ok")
'''
    rc, out, err, _ = bqlua(ctx, lua, args=[BUCKET], env=base_env(ctx, AWS_SECRET_ACCESS_KEY='wrong' * 8))
    ok(rc == 0 and 'sig ok' in out, 'a wrong secret gives SignatureDoesNotMatch', out + err)

    # session credentials
    env = base_env(ctx, AWS_ACCESS_KEY_ID=ctx.env['S3_SESSION_ACCESS_KEY_ID'],
                   AWS_SECRET_ACCESS_KEY=ctx.env['S3_SESSION_SECRET_ACCESS_KEY'],
                   AWS_SESSION_TOKEN=ctx.env['S3_SESSION_TOKEN'])
    rc, out, err, _ = bqlua(ctx, 'local B = ...; print(#s3.get("s3://" .. B .. "/api/bin.dat"))',
                            args=[BUCKET], env=env)
    ok(rc == 0 and out.strip() != '', 'temporary credentials with a session token are accepted', out + err)

    before = request_count(ctx)
    lua = LUA_HELPERS + r'''
local e = catch(s3.get, "s3://other-bucket/x")
check(type(e) == "table" and e.code == "AccessDenied", "code")
e = catch(s3.list, "s3://other-bucket/")
check(type(e) == "table" and e.code == "AccessDenied", "list code")
print("allow ok")
'''
    rc, out, err, _ = bqlua(ctx, lua, opts=['--endpoint', ctx.endpoint, '--allow-bucket', BUCKET])
    time.sleep(0.2)
    # Not a count of all requests: the front may still be logging the
    # previous run's last request when `before` is taken.
    with open(ctx.env['S3_REQUEST_LOG']) as f:
        other = [line for line in list(f)[before:] if '"other-bucket"' in line]
    ok(rc == 0 and 'allow ok' in out and other == [],
       '--allow-bucket refuses other buckets before any request', out + err + ''.join(other))

    rc, out, err, _ = bqlua(ctx, 'print(1)', opts=['--endpoint', 'http://192.0.2.1:9000'])
    ok(rc == 2 and 'http' in err, 'a plain-http endpoint that is not loopback is refused (exit 2)', err)

    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    lua = LUA_HELPERS + r'''
local e = catch(s3.get, "s3://b-unreach/x")
check(type(e) == "table" and e.retryable == true, "retryable: " .. tostring(e.code))
print(e.code)
'''
    rc, out, err, secs = bqlua(ctx, lua, opts=['--endpoint', 'http://127.0.0.1:%d' % port])
    ok(rc == 0 and secs < 30, 'an unreachable endpoint fails in bounded time (%.1fs, %s)' % (secs, out.strip()),
       out + err)

    env = base_env(ctx, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                   AWS_EC2_METADATA_DISABLED='true')
    rc, out, err, _ = bqlua(ctx, 'local ok, e = pcall(s3.get, "s3://b-x/y"); print(e.code, e.message)',
                            env=env, timeout=120)
    ok(rc == 0 and 'NoCredentials' in out, 'no credentials: an error that says so', out + err)


# --- tasks from S3 ----------------------------------------------------------------------

def test_tasks(ctx):
    main = ('#!/usr/bin/env bqlua\nlocal util = require "lib.util"\n'
            'print(util.greet(...), task.script)\nreturn 0\n')
    util = 'local M = {}\nfunction M.greet(x) return "hello " .. tostring(x) end\nreturn M\n'
    for name, body in (('tasks/v1/main.lua', main), ('tasks/v1/lib/util.lua', util),
                       ('tasks/lib/outside.lua', 'return 1\n'),
                       ('tasks/v1/bad.lua', 'local x = require "outside"\n')):
        p = aws(ctx, 's3', 'cp', '-', 's3://%s/%s' % (BUCKET, name), input=body.encode())
        if p.returncode != 0:
            ok(False, 'upload %s' % name, p.stderr.decode())
    sha = hashlib.sha256(main.encode()).hexdigest()
    env = base_env(ctx)
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, '--sha256', sha.upper(),
                           's3://%s/tasks/v1/main.lua' % BUCKET, 'world'], env)
    ok(rc == 0 and out.startswith('hello world\ts3://%s/tasks/v1/main.lua' % BUCKET),
       'a task from s3:// with a sibling module and a good --sha256', out + err)
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, BUCKET, 'tasks/v1/main.lua', 'two'], env)
    ok(rc == 0 and out.startswith('hello two'), 'the BUCKET KEY form', out + err)
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, '--sha256', '0' * 64,
                           's3://%s/tasks/v1/main.lua' % BUCKET], env)
    ok(rc == 3 and 'SHA-256' in err, 'a bad --sha256 refuses the S3 script (exit 3)', out + err)
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, 's3://%s/tasks/v1/nope.lua' % BUCKET], env)
    ok(rc == 3 and 'NoSuchKey' in err, 'a missing S3 script is exit 3 with NoSuchKey', out + err)
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, 's3://%s/tasks/v1/bad.lua' % BUCKET], env)
    ok(rc == 1 and "module 'outside' not found" in err, 'require never leaves the script prefix', out + err)
    # a runtime error points at the S3 chunk name
    aws(ctx, 's3', 'cp', '-', 's3://%s/tasks/v1/err.lua' % BUCKET, input=b'\nerror("boom")\n')
    rc, out, err, _ = run([ctx.bqlua, '--endpoint', ctx.endpoint, 's3://%s/tasks/v1/err.lua' % BUCKET], env)
    ok(rc == 1 and 's3://%s/tasks/v1/err.lua:2: boom' % BUCKET in err, 'chunk name is @s3://bucket/key', err)

    # the same from --s3-root
    root = ctx.root
    os.makedirs(os.path.join(root, 'root-bkt', 'tasks', 'lib'), exist_ok=True)
    with open(os.path.join(root, 'root-bkt', 'tasks', 'main.lua'), 'w') as f:
        f.write(main)
    with open(os.path.join(root, 'root-bkt', 'tasks', 'lib', 'util.lua'), 'w') as f:
        f.write(util)
    rc, out, err, _ = run([ctx.bqlua, '--s3-root', root, '--sha256', sha, 's3://root-bkt/tasks/main.lua', 'local'],
                          base_env(ctx))
    ok(rc == 0 and out.startswith('hello local'), 'a task with a sibling from --s3-root', out + err)


# --- --s3-root escapes ------------------------------------------------------------------------

def test_root_escapes(ctx):
    root = ctx.root
    outside = os.path.join(ctx.tmp, 'outside')
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, 'secret'), 'w') as f:
        f.write('secret')
    os.symlink(outside, os.path.join(root, 'root-bkt', 'link'))
    os.symlink(os.path.join(outside, 'secret'), os.path.join(root, 'root-bkt', 'filelink'))
    os.symlink(outside, os.path.join(root, 'linkbucket'))
    lua = LUA_HELPERS + r'''
local function refused(f, ...)
  local ok, e = pcall(f, ...)
  check(not ok, "not refused: " .. table.concat({...}, " "))
  return e
end
for _, k in ipairs{"../outside/secret", "a/../../outside/secret", "./x", "a//b", "link/secret", "filelink"} do
  local e = refused(s3.get, "s3://root-bkt/" .. k)
  check(type(e) == "table" and (e.code == "AccessDenied" or e.code == "InvalidArgument"), k .. ": " .. tostring(e))
  refused(s3.put, "s3://root-bkt/" .. k, "x")
end
refused(s3.get, "s3://linkbucket/secret")
refused(s3.put, "s3://linkbucket/new", "x")
local e = refused(s3.get, "root-bkt", "a\0b")
check(type(e) == "string" and e:find("NUL"), "NUL")
refused(s3.get, "s3://root-bkt/a\0b")
-- list does not follow links out
for o in s3.list("s3://root-bkt/") do check(not o.key:find("secret"), "listed through a link: " .. o.key) end
-- a failed writer leaves nothing behind
local ok = pcall(function() local w <close> = s3.writer("s3://root-bkt/wfail.txt"); w:write("x"); error("no") end)
check(s3.head("s3://root-bkt/wfail.txt") == nil, "aborted local writer")
print("escape ok")
'''
    rc, out, err, _ = bqlua(ctx, lua, opts=['--s3-root', root])
    ok(rc == 0 and 'escape ok' in out, '--s3-root refuses .., ., empty segments, NUL and links out', out + err)
    ok(open(os.path.join(outside, 'secret')).read() == 'secret' and os.listdir(outside) == ['secret'],
       'nothing outside --s3-root was read or written')
    left = [n for d, _, fs in os.walk(os.path.join(root, 'root-bkt')) for n in fs if n.startswith('.bqlua-tmp')]
    ok(left == [], 'no temporary files are left behind', left)


def main():
    ctx = Ctx()
    ctx.bqlua, = bqtest.args('BQLUA')
    ctx.tmp = tempfile.mkdtemp(prefix='bqlua-s3-')
    srv = os.path.join(ctx.tmp, 'srv')
    os.makedirs(srv)
    ctx.root = os.path.join(ctx.tmp, 'root')
    os.makedirs(os.path.join(ctx.root, 'root-bkt'))
    try:
        # A missing service is a failure, never a skip.
        ctx.env = (bqtest.start_server(bqtest.S3_SERVER, srv, '--bucket', BUCKET)
                   or bqtest.bail('the S3 test server did not start'))
        ctx.endpoint = ctx.env['S3_ENDPOINT']
        test_api(ctx, 'S3 server', ['--endpoint', ctx.endpoint], BUCKET)
        test_api(ctx, '--s3-root', ['--s3-root', ctx.root], 'root-bkt')
        test_awkward_keys(ctx)
        test_cli_written(ctx)
        test_multipart(ctx)
        test_streamed_parts(ctx)
        test_tls(ctx)
        test_failures(ctx)
        test_tasks(ctx)
        test_root_escapes(ctx)
    finally:
        bqtest.cleanup(ctx.tmp)
    return bqtest.done()


if __name__ == '__main__':
    sys.exit(main())
