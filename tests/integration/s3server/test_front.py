#!/usr/bin/python3
"""Integration test of the S3 test server (s3rver 3.7.1 + SigV4-verifying front).

Starts scripts/s3-test-server.sh in a temp dir, drives it with Debian's real
AWS CLI (/usr/bin/aws) and botocore, prints TAP, always stops the servers.
"""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import botocore.session
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'lib'))
import bqtest  # noqa: E402
from bqtest import load_env, note, ok  # noqa: E402

SCRIPT = bqtest.S3_SERVER
AWS = '/usr/bin/aws'
BUCKET = 'bqlua-front-test'


def cli_env(e, access=None, secret=None, token=None):
    return bqtest.clean_env({
        'AWS_ACCESS_KEY_ID': access or e['AWS_ACCESS_KEY_ID'],
        'AWS_SECRET_ACCESS_KEY': secret or e['AWS_SECRET_ACCESS_KEY'],
        'AWS_DEFAULT_REGION': 'us-east-1',
        'AWS_CONFIG_FILE': '/dev/null',
        'AWS_SHARED_CREDENTIALS_FILE': '/dev/null',
        'AWS_PAGER': '',
        'AWS_SESSION_TOKEN': token or None,
    })


def aws(e, *args, access=None, secret=None, token=None, check=True):
    p = subprocess.run([AWS, '--endpoint-url', e['S3_ENDPOINT'], '--no-cli-pager', *args],
                       env=cli_env(e, access, secret, token), capture_output=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError('aws %s failed (%d): %s' % (' '.join(args), p.returncode,
                                                       p.stderr.decode(errors='replace')))
    return p


def client(e, access=None, secret=None, token=None):
    s = botocore.session.get_session()
    return s.create_client(
        's3', endpoint_url=e['S3_ENDPOINT'], region_name='us-east-1',
        aws_access_key_id=access or e['AWS_ACCESS_KEY_ID'],
        aws_secret_access_key=secret or e['AWS_SECRET_ACCESS_KEY'],
        aws_session_token=token,
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4',
                      retries={'max_attempts': 1, 'mode': 'standard'}))


def err_code(fn):
    try:
        fn()
    except ClientError as ex:
        return ex.response.get('Error', {}).get('Code'), ex.response
    return None, None


def log_records(e):
    with open(e['S3_REQUEST_LOG'], encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def raw_request(e, method, path, body=b'', headers=None, creds=None, amz_date=None,
                body_sent=None):
    """Sign with botocore (S3 rules) and send with http.client; returns (status, body)."""
    u = urllib.parse.urlsplit(e['S3_ENDPOINT'])
    url = e['S3_ENDPOINT'] + path
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    c = creds or Credentials(e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY'])
    signer = S3SigV4Auth(c, 's3', 'us-east-1')
    if amz_date is None:
        signer.add_auth(req)
    else:
        # sign as if it were another time
        import datetime as _dt
        import unittest.mock as _m
        with _m.patch('botocore.auth.datetime') as mdt:
            mdt.datetime.utcnow.return_value = amz_date
            mdt.datetime.strptime = _dt.datetime.strptime
            signer.add_auth(req)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    sent = body if body_sent is None else body_sent
    hdrs = {k: (v if isinstance(v, bytes) else v.encode('utf-8')) for k, v in req.headers.items()}
    hdrs['Content-Length'] = str(len(sent)).encode()
    conn.request(method, path, body=sent, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def main():
    tmp = tempfile.mkdtemp(prefix='bqlua-s3front-')
    started = False
    try:
        p = subprocess.run([SCRIPT, 'start', tmp, '--bucket', BUCKET],
                           capture_output=True, timeout=300)
        started = True
        if not ok(p.returncode == 0, 'server starts',
                  p.stderr.decode(errors='replace')):
            return
        e = load_env(os.path.join(tmp, 'env'))
        for k in ('S3_ENDPOINT', 'S3_BACKEND_ENDPOINT', 'AWS_ACCESS_KEY_ID',
                  'AWS_SECRET_ACCESS_KEY', 'S3_SESSION_ACCESS_KEY_ID',
                  'S3_SESSION_SECRET_ACCESS_KEY', 'S3_SESSION_TOKEN', 'AWS_REGION',
                  'S3_PIDS', 'S3_REQUEST_LOG'):
            ok(bool(e.get(k)), 'env has %s' % k)
        ok(e.get('S3_ENDPOINT', '').startswith('http://127.0.0.1:')
           and e.get('S3_ENDPOINT') != e.get('S3_BACKEND_ENDPOINT'),
           'front and backend on different loopback ports')
        ok(len(e.get('AWS_SECRET_ACCESS_KEY', '')) == 40, 'secret is 40 chars')
        run_tests(e, tmp)
    except Exception:
        ok(False, 'test run raised', traceback.format_exc())
    finally:
        if started:
            s = subprocess.run([SCRIPT, 'stop', tmp], capture_output=True, timeout=60)
            ok(s.returncode == 0, 'server stops', s.stderr.decode(errors='replace'))
            pids = []
            try:
                e2 = load_env(os.path.join(tmp, 'env'))
                pids = [int(x) for x in e2.get('S3_PIDS', '').split(',') if x]
            except OSError:
                pass
            alive = []
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    alive.append(pid)
                except ProcessLookupError:
                    pass
            ok(pids and not alive, 'all started processes are gone', 'alive: %s' % alive)
        shutil.rmtree(tmp, ignore_errors=True)
        status = bqtest.done()
    sys.exit(status)


def section(name):
    note('--- ' + name)


def run_tests(e, tmp):
    s3 = client(e)
    work = os.path.join(tmp, 'work')
    os.makedirs(work)

    # ---------------------------------------------------------------- basics
    section('put/get round trip')
    data = os.urandom(300_000) + b'\x00\r\n\xff end'
    src = os.path.join(work, 'small.bin')
    with open(src, 'wb') as f:
        f.write(data)
    aws(e, 's3api', 'put-object', '--bucket', BUCKET, '--key', 'rt/small.bin',
        '--body', src)
    dst = os.path.join(work, 'small.out')
    aws(e, 's3api', 'get-object', '--bucket', BUCKET, '--key', 'rt/small.bin', dst)
    with open(dst, 'rb') as f:
        ok(f.read() == data, 'CLI put-object/get-object round trip is byte-identical')
    got = s3.get_object(Bucket=BUCKET, Key='rt/small.bin')['Body'].read()
    ok(got == data, 'botocore get_object returns the same bytes')
    empty = s3.put_object(Bucket=BUCKET, Key='rt/empty', Body=b'')
    ok(empty['ResponseMetadata']['HTTPStatusCode'] == 200, 'empty put works')
    ok(s3.get_object(Bucket=BUCKET, Key='rt/empty')['Body'].read() == b'',
       'empty object reads back empty')
    rng = s3.get_object(Bucket=BUCKET, Key='rt/small.bin', Range='bytes=10-19')
    ok(rng['Body'].read() == data[10:20], 'ranged GET returns the range')
    h = s3.head_object(Bucket=BUCKET, Key='rt/small.bin')
    ok(h['ContentLength'] == len(data), 'HEAD reports the size')

    # ------------------------------------------------------------ multipart
    section('20 MB multipart aws s3 cp')
    big = os.path.join(work, 'big.bin')
    with open(big, 'wb') as f:
        for _ in range(20):
            f.write(os.urandom(1 << 20))
    before = len(log_records(e))
    t0 = time.time()
    aws(e, 's3', 'cp', big, 's3://%s/mp/big.bin' % BUCKET, '--only-show-errors')
    note('upload took %.2fs' % (time.time() - t0))
    recs = log_records(e)[before:]
    ops = [r['op'] for r in recs]
    ok(ops.count('CreateMultipartUpload') == 1 and ops.count('UploadPart') >= 3
       and ops.count('CompleteMultipartUpload') == 1,
       'aws s3 cp of 20 MB used a multipart upload', ops)
    ok(all(r['status'] == 200 for r in recs), 'all multipart requests succeeded',
       [(r['op'], r['status']) for r in recs])
    ok(all(r['auth'] == 'header' for r in recs), 'CLI used header auth')
    ok(all(r['payload'] == 'sha256' for r in recs if r['op'] == 'UploadPart'),
       'CLI parts carried a hex x-amz-content-sha256 that was verified',
       [r['payload'] for r in recs])
    out = os.path.join(work, 'big.out')
    aws(e, 's3', 'cp', 's3://%s/mp/big.bin' % BUCKET, out, '--only-show-errors')
    ok(sha(out) == sha(big), 'multipart object reads back identical')
    ok(s3.head_object(Bucket=BUCKET, Key='mp/big.bin')['ContentLength'] == 20 << 20,
       'multipart object has 20 MiB')
    with open(big, 'rb') as f:
        cli_parts = list(iter(lambda: f.read(8 << 20), b''))   # the CLI's default 8 MiB chunks
    want = s3_multipart_etag(cli_parts)
    got = s3.head_object(Bucket=BUCKET, Key='mp/big.bin')['ETag']
    ok(got == want, "the CLI's multipart object has S3's multipart ETag (%s)" % want, got)
    ok(not os.listdir(os.path.join(e['S3_DATA_DIR'], BUCKET, '._S3rver_uploads'))
       if os.path.isdir(os.path.join(e['S3_DATA_DIR'], BUCKET, '._S3rver_uploads'))
       else True, 'no upload left over after complete')

    # ---------------------------------------------------------- signatures
    section('signature verification')
    bad_secret = e['AWS_SECRET_ACCESS_KEY'][:-1] + ('A' if e['AWS_SECRET_ACCESS_KEY'][-1] != 'A' else 'B')
    p = aws(e, 's3api', 'get-object', '--bucket', BUCKET, '--key', 'rt/small.bin',
            os.path.join(work, 'x'), secret=bad_secret, check=False)
    ok(p.returncode != 0 and b'SignatureDoesNotMatch' in p.stderr,
       'CLI with a wrong secret is refused with SignatureDoesNotMatch', p.stderr)
    p = aws(e, 's3', 'cp', src, 's3://%s/rt/should-not-exist' % BUCKET,
            secret=bad_secret, check=False)
    ok(p.returncode != 0 and b'SignatureDoesNotMatch' in p.stderr,
       'CLI upload with a wrong secret is refused', p.stderr)
    code, _ = err_code(lambda: s3.head_object(Bucket=BUCKET, Key='rt/should-not-exist'))
    ok(code == '404', 'the refused upload stored nothing', code)
    bad = client(e, secret=bad_secret)
    code, resp = err_code(lambda: bad.list_objects_v2(Bucket=BUCKET))
    ok(code == 'SignatureDoesNotMatch', 'botocore wrong secret -> SignatureDoesNotMatch', code)
    ok(resp is not None and resp['ResponseMetadata']['HTTPStatusCode'] == 403, 'status is 403')
    ok(resp is not None and resp['ResponseMetadata'].get('RequestId'),
       'error carries a RequestId', resp)
    code, _ = err_code(lambda: bad.put_object(Bucket=BUCKET, Key='rt/x', Body=b'x' * 2_000_000))
    ok(code == 'SignatureDoesNotMatch', 'wrong secret on a 2 MB PUT refused', code)
    raw_backend = botocore.session.get_session().create_client(
        's3', endpoint_url=e['S3_BACKEND_ENDPOINT'], region_name='us-east-1',
        aws_access_key_id='S3RVER', aws_secret_access_key=bad_secret,
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4',
                      retries={'max_attempts': 1}))
    ok(raw_backend.get_object(Bucket=BUCKET, Key='rt/small.bin')['Body'].read() == data,
       'control: s3rver alone accepts a wrong secret (so the refusals come from the front)')
    code, _ = err_code(lambda: client(e, access='AKIDNOSUCHKEY0000000').list_objects_v2(Bucket=BUCKET))
    ok(code == 'InvalidAccessKeyId', 'unknown access key -> InvalidAccessKeyId', code)
    st, body = anon_get(e, '/%s/rt/small.bin' % BUCKET)
    ok(st == 403 and b'<Code>AccessDenied</Code>' in body and b'<RequestId>' in body,
       'no auth -> 403 AccessDenied with S3 XML', body)
    st, body = raw_get(e, '/%s/rt/small.bin' % BUCKET,
                       {'Authorization': 'AWS4-HMAC-SHA256 garbage'})
    ok(st == 403 and b'AccessDenied' in body, 'unparseable Authorization -> 403 AccessDenied', body)

    # session-token key pair
    sess = client(e, access=e['S3_SESSION_ACCESS_KEY_ID'],
                  secret=e['S3_SESSION_SECRET_ACCESS_KEY'], token=e['S3_SESSION_TOKEN'])
    ok(sess.get_object(Bucket=BUCKET, Key='rt/small.bin')['Body'].read() == data,
       'session credentials with their token work')
    p = aws(e, 's3', 'cp', src, 's3://%s/rt/by-session' % BUCKET,
            access=e['S3_SESSION_ACCESS_KEY_ID'], secret=e['S3_SESSION_SECRET_ACCESS_KEY'],
            token=e['S3_SESSION_TOKEN'], check=False)
    ok(p.returncode == 0, 'CLI with session credentials uploads', p.stderr)
    notok = client(e, access=e['S3_SESSION_ACCESS_KEY_ID'],
                   secret=e['S3_SESSION_SECRET_ACCESS_KEY'])
    code, _ = err_code(lambda: notok.list_objects_v2(Bucket=BUCKET))
    ok(code == 'InvalidAccessKeyId', 'session key without its token is refused', code)
    wrongtok = client(e, access=e['S3_SESSION_ACCESS_KEY_ID'],
                      secret=e['S3_SESSION_SECRET_ACCESS_KEY'], token='WRONG' + e['S3_SESSION_TOKEN'])
    code, _ = err_code(lambda: wrongtok.list_objects_v2(Bucket=BUCKET))
    ok(code == 'InvalidToken', 'session key with a wrong token is refused', code)

    # payload hash and time skew
    st, body = raw_request(e, 'PUT', '/%s/rt/tampered' % BUCKET, body=b'hello world',
                           body_sent=b'hello WORLD')
    ok(st == 400 and b'XAmzContentSHA256Mismatch' in body,
       'body not matching x-amz-content-sha256 -> 400 XAmzContentSHA256Mismatch', body)
    code, _ = err_code(lambda: s3.head_object(Bucket=BUCKET, Key='rt/tampered'))
    ok(code == '404', 'the mismatching body was not stored', code)
    st, body = raw_request(e, 'PUT', '/%s/rt/signed-raw' % BUCKET, body=b'hello world')
    ok(st == 200, 'the same request with the right body is accepted', body)
    import datetime
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    st, body = raw_request(e, 'GET', '/%s/rt/small.bin' % BUCKET, amz_date=old)
    ok(st == 403 and b'RequestTimeTooSkewed' in body, '20 min old request -> RequestTimeTooSkewed', body)
    near = datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
    st, body = raw_request(e, 'GET', '/%s/rt/small.bin' % BUCKET, amz_date=near)
    ok(st == 200 and body == data, '10 min old request is still accepted', body[:200])
    st, body = raw_request(e, 'GET', '/%s/rt/small.bin' % BUCKET,
                           headers={'x-amz-meta-a': 'b'})
    ok(st == 200, 'request with an extra signed x-amz header accepted', body[:300])
    st, body = raw_request(e, 'PUT', '/%s/rt/meta' % BUCKET, body=b'm',
                           headers={'x-amz-meta-note': 'caf\u00e9 \u2713'})
    ok(st == 200, 'raw UTF-8 in a signed x-amz-meta header verifies', body[:300])
    u = urllib.parse.urlsplit(e['S3_ENDPOINT'])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    req = AWSRequest(method='GET', url=e['S3_ENDPOINT'] + '/%s/rt/small.bin' % BUCKET)
    S3SigV4Auth(Credentials(e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY']),
                's3', 'us-east-1').add_auth(req)
    hdrs = dict(req.headers.items())
    hdrs['x-amz-meta-sneaky'] = 'added after signing'
    c.request('GET', '/%s/rt/small.bin' % BUCKET, headers=hdrs)
    resp = c.getresponse()
    rb = resp.read()
    c.close()
    ok(resp.status == 403 and b'HeadersNotSigned' in rb,
       'an unsigned x-amz-* header is refused', rb[:300])

    # ------------------------------------------------------------ presigned
    section('presigned URLs')
    url = s3.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'rt/small.bin'},
                                    ExpiresIn=300)
    st, body = fetch(url)
    ok(st == 200 and body == data, 'presigned GET URL works', (st, body[:200]))
    url2 = sess.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'rt/small.bin'},
                                       ExpiresIn=300)
    st, body = fetch(url2)
    ok(st == 200 and body == data and 'X-Amz-Security-Token' in url2,
       'presigned GET URL with a session token works', (st, body[:200]))
    sig = url.rsplit('X-Amz-Signature=', 1)[1][:64]
    flipped = ('0' if sig[0] != '0' else '1') + sig[1:]
    st, body = fetch(url.replace(sig, flipped))
    ok(st == 403 and b'SignatureDoesNotMatch' in body, 'tampered signature refused', (st, body[:300]))
    st, body = fetch(url.replace('rt/small.bin', 'rt/signed-raw'))
    ok(st == 403 and b'SignatureDoesNotMatch' in body, 'presigned URL for another key refused',
       (st, body[:300]))
    st, body = fetch(url.replace('X-Amz-Expires=300', 'X-Amz-Expires=301'))
    ok(st == 403 and b'SignatureDoesNotMatch' in body, 'tampered expiry refused', (st, body[:300]))
    purl = s3.generate_presigned_url('put_object', Params={'Bucket': BUCKET, 'Key': 'rt/presigned-put'},
                                     ExpiresIn=300)
    st, body = fetch(purl, method='PUT', data=b'via presigned put')
    ok(st == 200, 'presigned PUT works', body)
    ok(s3.get_object(Bucket=BUCKET, Key='rt/presigned-put')['Body'].read() == b'via presigned put',
       'presigned PUT stored the body')
    s = botocore.session.get_session()
    v2 = s.create_client('s3', endpoint_url=e['S3_ENDPOINT'], region_name='us-east-1',
                         aws_access_key_id=e['AWS_ACCESS_KEY_ID'],
                         aws_secret_access_key=e['AWS_SECRET_ACCESS_KEY'],
                         config=Config(s3={'addressing_style': 'path'}, signature_version='s3'))
    v2url = v2.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'rt/small.bin'})
    st, body = fetch(v2url)
    ok(st == 403 and b'AccessDenied' in body and b'Version 2' in body,
       'SigV2 presigned URL refused (SigV4 only)', (v2url, st, body[:300]))
    eurl = s3.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'rt/small.bin'},
                                     ExpiresIn=1)
    time.sleep(2.1)
    st, body = fetch(eurl)
    ok(st == 403 and b'expired' in body, 'expired presigned URL refused', (st, body[:300]))

    # ------------------------------------------------------- abort / list uploads
    section('AbortMultipartUpload / ListMultipartUploads')
    key = 'mp/aborted object'
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    uid = up['UploadId']
    part = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1,
                          Body=os.urandom(5 << 20))
    ok(part['ResponseMetadata']['HTTPStatusCode'] == 200, 'UploadPart works')
    up2 = s3.create_multipart_upload(Bucket=BUCKET, Key='other/x')
    lst = s3.list_multipart_uploads(Bucket=BUCKET)
    ids = {(u['Key'], u['UploadId']) for u in lst.get('Uploads', [])}
    ok((key, uid) in ids and ('other/x', up2['UploadId']) in ids,
       'ListMultipartUploads lists the open uploads', lst.get('Uploads'))
    lst = s3.list_multipart_uploads(Bucket=BUCKET, Prefix='mp/')
    ok([u['Key'] for u in lst.get('Uploads', [])] == [key],
       'ListMultipartUploads honours the prefix', lst.get('Uploads'))
    cli = json.loads(aws(e, 's3api', 'list-multipart-uploads', '--bucket', BUCKET).stdout or b'{}')
    ok(len(cli.get('Uploads', [])) == 2, 'CLI list-multipart-uploads sees both', cli)
    parts = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)
    ok([(p['PartNumber'], p['ETag'], p['Size']) for p in parts.get('Parts', [])]
       == [(1, part['ETag'], 5 << 20)], 'ListParts lists the uploaded part', parts.get('Parts'))
    updir = os.path.join(e['S3_DATA_DIR'], BUCKET, '._S3rver_uploads', uid)
    ok(os.path.isdir(updir), "s3rver holds the part on disk before the abort", updir)
    ab = s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)
    ok(ab['ResponseMetadata']['HTTPStatusCode'] == 204, 'AbortMultipartUpload -> 204',
       ab['ResponseMetadata'])
    ok(not os.path.exists(updir), 'abort freed the parts on disk', updir)
    p = aws(e, 's3api', 'abort-multipart-upload', '--bucket', BUCKET, '--key', 'other/x',
            '--upload-id', up2['UploadId'], check=False)
    ok(p.returncode == 0, 'CLI abort-multipart-upload works', p.stderr)
    lst = s3.list_multipart_uploads(Bucket=BUCKET)
    ok(not lst.get('Uploads'), 'ListMultipartUploads is empty after the aborts', lst.get('Uploads'))
    recs = [r for r in log_records(e) if r['op'] == 'AbortMultipartUpload']
    ok(len(recs) == 2 and all(r['status'] == 204 for r in recs),
       'request log records both aborts with 204', recs)
    code, _ = err_code(lambda: s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid,
                                              PartNumber=2, Body=b'late'))
    ok(code == 'NoSuchUpload', 'UploadPart after abort -> NoSuchUpload', code)
    ok(not os.path.exists(updir), 'the late part did not recreate the upload')
    code, _ = err_code(lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid))
    ok(code == 'NoSuchUpload', 'second abort -> NoSuchUpload', code)
    code, _ = err_code(lambda: bad.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid))
    ok(code == 'SignatureDoesNotMatch', 'abort is signature-checked too', code)
    code, _ = err_code(lambda: bad.list_multipart_uploads(Bucket=BUCKET))
    ok(code == 'SignatureDoesNotMatch', 'list uploads is signature-checked too', code)
    # Complete checks like S3
    up3 = s3.create_multipart_upload(Bucket=BUCKET, Key='mp/small-parts')
    e1 = s3.upload_part(Bucket=BUCKET, Key='mp/small-parts', UploadId=up3['UploadId'],
                        PartNumber=1, Body=b'a' * 1000)['ETag']
    e2 = s3.upload_part(Bucket=BUCKET, Key='mp/small-parts', UploadId=up3['UploadId'],
                        PartNumber=2, Body=b'b' * 1000)['ETag']
    code, _ = err_code(lambda: s3.complete_multipart_upload(
        Bucket=BUCKET, Key='mp/small-parts', UploadId=up3['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e1}, {'PartNumber': 2, 'ETag': e2}]}))
    ok(code == 'EntityTooSmall', 'complete with a non-last part < 5 MiB -> EntityTooSmall', code)
    code, _ = err_code(lambda: s3.complete_multipart_upload(
        Bucket=BUCKET, Key='mp/small-parts', UploadId=up3['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e2}]}))
    ok(code == 'InvalidPart', 'complete with a wrong ETag -> InvalidPart', code)
    c = s3.complete_multipart_upload(
        Bucket=BUCKET, Key='mp/small-parts', UploadId=up3['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': e2}]})
    ok(c['ResponseMetadata']['HTTPStatusCode'] == 200, 'complete with one (last) part works')
    ok(s3.get_object(Bucket=BUCKET, Key='mp/small-parts')['Body'].read() == b'b' * 1000,
       'completed object has the chosen part')
    mp_etag_tests(e, s3)

    # ------------------------------------------------------------ odd keys
    section('keys with special characters')
    keys = ['odd/with space.txt', 'odd/plus+sign', 'odd/tilde~x', 'odd/eq=ual',
            'odd/amp&ersand', 'odd/ütf8-ключ-鍵.txt', 'odd/all +~=&?#%;,@$!\'()*[] ü']
    for k in keys:
        body = ('content of ' + k).encode()
        p = aws(e, 's3api', 'put-object', '--bucket', BUCKET, '--key', k,
                '--body', write(work, 'k.bin', body), check=False)
        ok(p.returncode == 0, 'CLI put-object key %r' % k, p.stderr)
        outp = os.path.join(work, 'k.out')
        if os.path.exists(outp):
            os.unlink(outp)
        p = aws(e, 's3api', 'get-object', '--bucket', BUCKET, '--key', k, outp, check=False)
        ok(p.returncode == 0 and open(outp, 'rb').read() == body,
           'CLI get-object key %r round-trips' % k, p.stderr)
        got = s3.get_object(Bucket=BUCKET, Key=k)['Body'].read()
        ok(got == body, 'botocore reads key %r' % k)
    listed = [o['Key'] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix='odd/')['Contents']]
    ok(sorted(listed) == sorted(keys), 'listing returns the keys exactly', listed)
    p = aws(e, 's3', 'cp', src, 's3://%s/odd/cli cp +~=&ü' % BUCKET, '--only-show-errors', check=False)
    ok(p.returncode == 0, 'aws s3 cp to an odd key', p.stderr)
    ok(s3.get_object(Bucket=BUCKET, Key='odd/cli cp +~=&ü')['Body'].read() == data,
       'aws s3 cp odd key reads back')
    lst = s3.list_objects_v2(Bucket=BUCKET, Prefix='odd/with sp')
    ok([o['Key'] for o in lst.get('Contents', [])] == ['odd/with space.txt'],
       'list with a prefix containing a space', lst.get('Contents'))
    lst = s3.list_objects_v2(Bucket=BUCKET, Prefix='odd/plus+')
    ok([o['Key'] for o in lst.get('Contents', [])] == ['odd/plus+sign'],
       'list with a prefix containing +', lst.get('Contents'))

    # keys s3rver cannot store: signature checked, then an honest 501
    code, resp = err_code(lambda: s3.put_object(Bucket=BUCKET, Key='dbl//slash', Body=b'x'))
    ok(code == 'NotImplemented' and resp['ResponseMetadata']['HTTPStatusCode'] == 501,
       "key with '//' -> 501 NotImplemented after a valid signature", code)
    code, _ = err_code(lambda: bad.put_object(Bucket=BUCKET, Key='dbl//slash', Body=b'x'))
    ok(code == 'SignatureDoesNotMatch', "key with '//' and a wrong secret -> SignatureDoesNotMatch", code)

    # ------------------------------------------------------------ misc
    section('connections and logging')
    u = urllib.parse.urlsplit(e['S3_ENDPOINT'])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    statuses = []
    for _ in range(3):
        req = AWSRequest(method='GET', url=e['S3_ENDPOINT'] + '/%s/rt/signed-raw' % BUCKET)
        S3SigV4Auth(Credentials(e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY']),
                    's3', 'us-east-1').add_auth(req)
        conn.request('GET', '/%s/rt/signed-raw' % BUCKET, headers=dict(req.headers.items()))
        r = conn.getresponse()
        statuses.append((r.status, r.read(), r.version, r.will_close))
    conn.close()
    ok(all(s[0] == 200 and s[1] == b'hello world' and s[2] == 11 for s in statuses)
       and not statuses[0][3], 'three requests on one kept-alive HTTP/1.1 connection', statuses)
    recs = log_records(e)
    ok(all({'method', 'path', 'query', 'status', 'op'} <= set(r) for r in recs),
       'every log line has method, path, query, status, op')
    ok(any(r['op'] == 'ListMultipartUploads' and r['status'] == 200 for r in recs),
       'log names ListMultipartUploads')
    ok(any(r['status'] == 403 and r['error'] == 'SignatureDoesNotMatch' for r in recs),
       'log records refused signatures')

    # ------------------------------------------------------------ restart
    section('a restarted front keeps the multipart ETags')
    want = s3.head_object(Bucket=BUCKET, Key='mp/etag.bin')['ETag']
    p = subprocess.run([SCRIPT, 'stop', tmp], capture_output=True, timeout=60)
    ok(p.returncode == 0, 'server stops for the restart', p.stderr.decode(errors='replace'))
    p = subprocess.run([SCRIPT, 'start', tmp], capture_output=True, timeout=300)
    ok(p.returncode == 0, 'server starts again on the same data dir', p.stderr.decode(errors='replace'))
    e2 = load_env(os.path.join(tmp, 'env'))
    got = client(e2).head_object(Bucket=BUCKET, Key='mp/etag.bin')['ETag']
    ok(got == want and got.endswith('-3"'), 'HEAD after the restart: the multipart ETag %s' % want, got)


def s3_multipart_etag(parts):
    """S3's ETag of an object uploaded in these parts, computed here."""
    return '"%s-%d"' % (hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


def mp_etag_tests(e, s3):
    section("multipart ETags (S3's, emulated by the front)")
    key = 'mp/etag.bin'
    parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1000)]
    whole = b''.join(parts)
    want = s3_multipart_etag(parts)
    plain = '"%s"' % hashlib.md5(whole).hexdigest()
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up['UploadId'], PartNumber=i + 1,
                            Body=p)['ETag'] for i, p in enumerate(parts)]
    ok(etags == ['"%s"' % hashlib.md5(p).hexdigest() for p in parts], 'part ETags are their MD5s', etags)
    c = s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=up['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': i + 1, 'ETag': t} for i, t in enumerate(etags)]})
    ok(c.get('ETag') == want, 'CompleteMultipartUpload answers the multipart ETag %s' % want, c.get('ETag'))
    h = s3.head_object(Bucket=BUCKET, Key=key)
    ok(h['ETag'] == want and h['ContentLength'] == len(whole), 'botocore head_object shows it', h['ETag'])
    g = s3.get_object(Bucket=BUCKET, Key=key)
    ok(g['ETag'] == want and g['Body'].read() == whole, 'get_object shows it and the bytes', g['ETag'])
    lst = s3.list_objects_v2(Bucket=BUCKET, Prefix=key)
    ok([o['ETag'] for o in lst.get('Contents', [])] == [want], 'ListObjectsV2 shows it', lst.get('Contents'))
    lst = s3.list_objects(Bucket=BUCKET, Prefix=key)
    ok([o['ETag'] for o in lst.get('Contents', [])] == [want], 'ListObjects shows it', lst.get('Contents'))
    st, body = raw_request(e, 'GET', '/%s?list-type=2&encoding-type=url&prefix=%s'
                           % (BUCKET, urllib.parse.quote(key, safe='')))
    ok(st == 200 and ('<ETag>%s</ETag>' % want.replace('"', '&quot;')).encode() in body,
       'ListObjectsV2 with encoding-type=url shows it', body[:600])
    # s3.lines' pattern: HEAD, then ranged GETs with If-Match: the ETag
    r = s3.get_object(Bucket=BUCKET, Key=key, Range='bytes=5242870-5242889', IfMatch=want)
    ok(r['ResponseMetadata']['HTTPStatusCode'] == 206 and r['Body'].read() == whole[5242870:5242890],
       'a ranged GET with If-Match: the multipart ETag -> 206 and the range')
    ok(s3.head_object(Bucket=BUCKET, Key=key, IfMatch=want.strip('"'))['ETag'] == want,
       'HEAD with If-Match: the ETag without quotes matches too')
    code, _ = err_code(lambda: s3.get_object(Bucket=BUCKET, Key=key, Range='bytes=0-9', IfMatch=plain))
    ok(code == 'PreconditionFailed', "a GET with If-Match: s3rver's plain MD5 -> 412 PreconditionFailed", code)
    code, _ = err_code(lambda: s3.head_object(Bucket=BUCKET, Key=key, IfMatch='"0123"'))
    ok(code == '412', 'HEAD with a wrong If-Match -> 412', code)
    code, _ = err_code(lambda: s3.head_object(Bucket=BUCKET, Key=key, IfNoneMatch=want))
    ok(code == '304', 'HEAD with If-None-Match: the multipart ETag -> 304', code)
    code, _ = err_code(lambda: s3.get_object(Bucket=BUCKET, Key='rt/small.bin', IfMatch='"0123"'))
    ok(code == 'PreconditionFailed', 'If-Match is checked for plain objects too', code)
    side = os.path.join(e['S3_DATA_DIR'], '._front_multipart_etags.json')
    with open(side) as f:
        ok(json.load(f).get(BUCKET, {}).get(key, {}).get('etag') == want,
           "the mapping is in the front's sidecar file")
    # replaced by a plain PUT: a plain ETag again
    s3.put_object(Bucket=BUCKET, Key=key, Body=whole)
    h = s3.head_object(Bucket=BUCKET, Key=key)
    ok(h['ETag'] == plain, 'after a PutObject of the same bytes the ETag is their plain MD5', h['ETag'])
    with open(side) as f:
        ok(key not in json.load(f).get(BUCKET, {}), 'the PutObject removed the mapping')
    # completed again (parts in another split): the new ETag
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    parts2 = [whole[:6 << 20], whole[6 << 20:]]
    etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up['UploadId'], PartNumber=i + 1,
                            Body=p)['ETag'] for i, p in enumerate(parts2)]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=up['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': i + 1, 'ETag': t} for i, t in enumerate(etags)]})
    h = s3.head_object(Bucket=BUCKET, Key=key)
    ok(h['ETag'] == s3_multipart_etag(parts2), 'another Complete at the key: its own ETag', h['ETag'])
    # deleted, then a plain object of other bytes: no stale multipart ETag
    s3.delete_object(Bucket=BUCKET, Key=key)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'plain')
    h = s3.head_object(Bucket=BUCKET, Key=key)
    ok(h['ETag'] == '"%s"' % hashlib.md5(b'plain').hexdigest(), 'after a delete and a PUT: a plain ETag',
       h['ETag'])
    # for the restart check at the end: a 3-part object
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up['UploadId'], PartNumber=i + 1,
                            Body=p)['ETag'] for i, p in enumerate(parts)]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=up['UploadId'],
        MultipartUpload={'Parts': [{'PartNumber': i + 1, 'ETag': t} for i, t in enumerate(etags)]})


def write(d, name, data):
    p = os.path.join(d, name)
    with open(p, 'wb') as f:
        f.write(data)
    return p


def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def fetch(url, method='GET', data=None):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read()


def raw_get(e, path, headers):
    u = urllib.parse.urlsplit(e['S3_ENDPOINT'])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request('GET', path, headers=headers)
    r = c.getresponse()
    b = r.read()
    c.close()
    return r.status, b


def anon_get(e, path):
    return raw_get(e, path, {})


if __name__ == '__main__':
    main()
