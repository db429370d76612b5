#!/usr/bin/python3
"""SigV4-verifying front for the s3rver test backend.

Run with Debian's /usr/bin/python3 (stdlib + python3-botocore only).

Every request is authenticated the way S3 does it before anything reaches
s3rver (which itself does not check SigV4 signatures at all):

  * header auth  (Authorization: AWS4-HMAC-SHA256 Credential=..., ...)
  * presigned    (X-Amz-Algorithm/X-Amz-Credential/.../X-Amz-Signature)

The signature is recomputed with botocore's S3SigV4Auth from the request as
received: raw method, raw path (S3 rules: no normalisation, no re-encoding),
the decoded-and-re-encoded query, the headers named in SignedHeaders and the
x-amz-content-sha256 value.  Secrets come from a credentials file with lines

    ACCESS_KEY_ID SECRET_ACCESS_KEY [SESSION_TOKEN]

(`#` starts a comment).  A key with a session token must present it as
X-Amz-Security-Token (header, or query parameter for presigned URLs).

Bodies whose x-amz-content-sha256 is a hex digest are spooled (memory up to
1 MiB, then a temp file) and checked before they are forwarded, so a bad
upload never touches the backend.  UNSIGNED-PAYLOAD bodies of PutObject
and UploadPart are spooled too (only their length checked), so that a body
cut short never reaches the backend (S3 keeps nothing of it); other
unsigned bodies are streamed straight through.  STREAMING-* (aws-chunked) payloads are refused with 501:
neither botocore 1.29 nor Debian's awscli 2.9 send them over http.

s3rver 3.7.1 gaps filled here:
  * AbortMultipartUpload  (DELETE ?uploadId=)  -> removes the upload's parts
    from s3rver's data dir, 204
  * ListMultipartUploads  (GET /bucket?uploads) -> XML listing of open uploads
  * ListParts (GET ?uploadId=), read from s3rver's data dir
  * UploadPart/ListParts/CompleteMultipartUpload on an unknown upload -> 404
    NoSuchUpload; Complete also checks parts/ETags/order/5 MiB minimum like S3
  * multipart ETags: s3rver gives an object made by CompleteMultipartUpload
    the plain MD5 of its bytes; S3 gives it "hex(MD5(the parts' binary
    MD5s))-N".  The front computes that from the Complete request's parts,
    answers it in the Complete result, and shows it in HEAD/GET ETag headers
    and ListObjects(V2) entries for as long as s3rver's MD5 of the object is
    the one it had at completion (a PutObject, CopyObject or DeleteObject
    through the front forgets it at once).  The mapping is kept in
    BACKEND_DIR/._front_multipart_etags.json, so a restarted front keeps it.
  * If-Match on GetObject/HeadObject (s3rver ignores it) is checked against
    the ETag S3 would show: 412 PreconditionFailed when none matches;
    If-None-Match carrying a multipart ETag is translated for s3rver.
  * keys containing '//' (or '.'/'..' segments, which s3rver would resolve on
    its file system) are only signature-checked, then answered with
    501 NotImplemented.

One JSON line per request goes to the request log.

Fault injection (opt-in, `--faults FILE`; without it the front never
misbehaves): FILE is JSON, re-read whenever it changes (its rule counters
start over then), so a test can switch faults between runs:

    {"rules": [
      {"op": "UploadPart", "count": 2, "status": 503, "code": "SlowDown"},
      {"op": "PutObject", "key_prefix": "f/", "action": "reset"},
      {"op": "GetObject", "skip": 1, "count": 1, "status": 500, "code": "InternalError"},
      {"op": "*", "action": "redirect", "signed_region_not": "us-east-1"}
    ]}

A rule matches a request by `op` (the operation name the log shows, or "*"),
optionally `op_not` (a list of operation names it leaves alone), `bucket`,
`key_prefix`, `payload` (the request's x-amz-content-sha256, e.g.
"UNSIGNED-PAYLOAD") and `signed_region_not` (the request's
SigV4 credential scope names another region).  Of the matching requests it
lets the first `skip` (default 0) through, then fires on the next `count`
(default: all of them).  The first rule that fires decides; actions:
  error     (default)  answer `status` with an error document of `code`
                       (the request body is read first, so the connection stays usable)
  reset     read half of the request body (at most 256 KiB), then reset the
            connection (RST): a transfer broken mid-body, no answer
  redirect  301 PermanentRedirect with x-amz-bucket-region: `region`
            (default: the front's own region), what S3 answers a request
            sent to the wrong region
  truncate  forward the request (the backend acts on it), then send half of
            the answer's bytes (status line, headers and body; cut inside the
            headers when there is no body) and reset the connection; only
            answers relayed from s3rver are cut (not ListMultipartUploads,
            ListParts, AbortMultipartUpload or errors made by the front)
  stall     wait `seconds` (default 2), then behave normally
  lose      forward the request (the backend acts on it and answers), then
            reset the connection without sending any of the answer: a lost
            answer to a request that was carried out.  With "then":
            "overwrite" (PUT other bytes at the key, straight to s3rver) or
            "delete" (DELETE the key), done after the backend answered and
            before the reset, as if another client had changed the object
  etag      forward the request, then answer it with an ETag header that is
            the MD5 of other bytes: what a part damaged on its way to S3
            would get (the body, if any, is relayed unchanged)

Seeded random faults: a rule with "random": P (0 < P <= 1) fires on a
fraction P of the requests it matches, drawn from its own
random.Random("seed"), each time with an action picked from "actions"
(default all of error503, error500, slowdown, reset, truncate; error503 =
503 ServiceUnavailable, error500 = 500 InternalError, slowdown = 503
SlowDown).  `skip`/`count` still bound it (count = faults fired).  The
sequence is reproducible for a client that sends its requests one by one:

    {"rules": [{"op": "*", "random": 0.2, "seed": 42,
                "actions": ["error503", "error500", "slowdown", "reset", "truncate"]}]}

The request log records a fired fault as "fault" ("503 SlowDown", "reset",
"truncate", "stall 2", "redirect us-east-1", "lose", "lose then overwrite") and every signed request's
credential-scope region as "sign_region".

The credentials file is re-read when it changes, so a test can add keys
(e.g. rotating temporary credentials) while the front runs.
"""

import argparse
import binascii
import calendar
import datetime
import email.utils
import hashlib
import hmac
import http.client
import http.server
import io
import json
import os
import random
import re
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape, unescape as xml_unescape
import xml.etree.ElementTree as ET

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
HEX64 = re.compile(r'^[0-9a-fA-F]{64}$')
AMZ_DATE = '%Y%m%dT%H%M%SZ'
S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
MIN_PART_SIZE = 5 * 1024 * 1024
MP_ETAGS_FILE = '._front_multipart_etags.json'   # in s3rver's data dir (not a bucket: a file)
XML_QUOT = {'"': '&quot;'}
IO_CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
BACKEND_IDLE_REUSE = 3.0        # node closes idle keep-alive sockets after 5 s
PRESIGN_AUTH_PARAMS = {
    'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires',
    'x-amz-signedheaders', 'x-amz-signature', 'x-amz-security-token',
}
HOP_BY_HOP = {
    'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
    'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'expect',
}
BACKEND_ACCESS_KEY = 'S3RVER'   # s3rver's built-in account (it does not verify v4)


class S3Err(Exception):
    """An S3 error answer."""

    def __init__(self, status, code, message, **detail):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


# --------------------------------------------------------------------------
# Fault policy (see "Fault injection" above)
# --------------------------------------------------------------------------
RANDOM_ACTIONS = {
    'error503': {'action': 'error', 'status': 503, 'code': 'ServiceUnavailable'},
    'error500': {'action': 'error', 'status': 500, 'code': 'InternalError'},
    'slowdown': {'action': 'error', 'status': 503, 'code': 'SlowDown'},
    'reset': {'action': 'reset'},
    'truncate': {'action': 'truncate'},
    'stall': {'action': 'stall'},
}
RANDOM_DEFAULT = ['error503', 'error500', 'slowdown', 'reset', 'truncate']
# what the `etag` fault answers: an MD5, but of no bytes a client sent
WRONG_ETAG = '"%s"' % hashlib.md5(b'not the bytes you sent').hexdigest()


class FaultReset(Exception):
    """before_auth's answer: break the connection mid-body, answer nothing."""


class FaultPolicy:
    """Decides per request whether the front misbehaves on purpose.

    Hooks (all return None to mean "behave normally"):
      before_auth(req)     -> called first; may return an S3Err to answer with
                              or a FaultReset
      before_forward(req)  -> called after auth/body checks, before the backend
      after_response(req, status) -> called after the backend answered
    `req` is the RequestInfo of the request.  With no rules file it does nothing.
    """

    def __init__(self, path=None, region='us-east-1'):
        self.path = path
        self.region = region
        self.lock = threading.Lock()
        self.stamp = None
        self.rules = []

    def _reload(self):
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self.stamp:
            return
        self.stamp = stamp
        self.rules = []
        if stamp is None:
            return
        try:
            with open(self.path, encoding='utf-8') as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print('front: faults file %s: %s' % (self.path, e), file=sys.stderr)
            return
        for rule in doc.get('rules', []):
            rule = dict(rule)
            rule['_skip'] = int(rule.get('skip', 0))
            rule['_left'] = rule.get('count')
            if 'random' in rule:
                rule['_rng'] = random.Random(rule.get('seed', 0))
            self.rules.append(rule)

    @staticmethod
    def _signed_region(req):
        auth = req.headers.get('authorization') or ''
        m = re.search(r'Credential=[^/,\s]+/\d{8}/([^/,\s]+)/', auth)
        if not m:
            m = re.match(r'^[^/]+/\d{8}/([^/]+)/', req.qdict.get('X-Amz-Credential', ''))
        return m.group(1) if m else None

    def _matches(self, rule, req):
        if rule.get('op', '*') not in ('*', req.op):
            return False
        if req.op in rule.get('op_not', ()):
            return False
        if 'bucket' in rule and rule['bucket'] != req.bucket:
            return False
        if 'key_prefix' in rule and not (req.key or '').startswith(rule['key_prefix']):
            return False
        if 'payload' in rule and (req.headers.get('x-amz-content-sha256') or '') != rule['payload']:
            return False
        if 'signed_region_not' in rule:
            sr = self._signed_region(req)
            if sr is None or sr == rule['signed_region_not']:
                return False
        return True

    def _fire(self, req):
        with self.lock:
            self._reload()
            for rule in self.rules:
                if not self._matches(rule, req):
                    continue
                if rule['_skip'] > 0:
                    rule['_skip'] -= 1
                    continue
                if rule['_left'] is not None and rule['_left'] <= 0:
                    continue
                pick = None
                if '_rng' in rule:
                    rng = rule['_rng']
                    if rng.random() >= float(rule['random']):
                        continue
                    pick = rng.choice(rule.get('actions') or RANDOM_DEFAULT)
                if rule['_left'] is not None:
                    rule['_left'] -= 1
                return dict(rule, **RANDOM_ACTIONS[pick]) if pick else rule
        return None

    def before_auth(self, req):
        if not self.path:
            return None
        rule = self._fire(req)
        if rule is None:
            return None
        action = rule.get('action', 'error')
        if action == 'truncate':
            req.fault = 'truncate'
            req.truncate = True          # carried out by Handler._relay
            return None
        if action == 'etag':
            req.fault = 'etag'
            req.wrong_etag = True        # carried out by Handler._relay
            return None
        if action == 'lose':
            then = rule.get('then')
            if then not in (None, 'overwrite', 'delete'):
                print('front: faults: unknown "then": %r' % then, file=sys.stderr)
                then = None
            req.fault = 'lose' + (' then ' + then if then else '')
            req.lose = then or True      # carried out by Handler._relay
            return None
        if action == 'stall':
            secs = float(rule.get('seconds', 2))
            req.fault = 'stall %g' % secs
            time.sleep(secs)
            return None
        if action == 'reset':
            req.fault = 'reset'
            return FaultReset()
        if action == 'redirect':
            region = rule.get('region', self.region)
            req.fault = 'redirect ' + region
            req.sign_region = self._signed_region(req)   # auth, which logs it, is skipped
            e = S3Err(301, 'PermanentRedirect',
                      'The bucket you are attempting to access must be addressed '
                      'using the specified endpoint. Please send all future '
                      'requests to this endpoint.', Bucket=req.bucket or '',
                      Endpoint='s3.%s.amazonaws.com' % region)
            e.headers = {'x-amz-bucket-region': region}
            return e
        status = int(rule.get('status', 500))
        code = rule.get('code', 'InternalError')
        req.fault = '%d %s' % (status, code)
        return S3Err(status, code, rule.get('message', 'Injected fault (%s).' % code))

    def before_forward(self, req):
        return None

    def after_response(self, req, status):
        return None


# --------------------------------------------------------------------------
# Credentials and the botocore-based verifier
# --------------------------------------------------------------------------
def load_credentials(path):
    creds = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) not in (2, 3):
                raise SystemExit(f'{path}: bad line: {line!r}')
            creds[parts[0]] = (parts[1], parts[2] if len(parts) == 3 else None)
    return creds


class _Verifier(S3SigV4Auth):
    """botocore's S3 SigV4 signer, fed with the request exactly as received."""

    def __init__(self, credentials, region, service, raw_path, signed):
        super().__init__(credentials, service, region)
        self._raw_path = raw_path
        self._signed = signed          # list of (lower name, [values])

    def _normalize_url_path(self, path):
        return self._raw_path          # S3: the path as sent, no normalisation

    def headers_to_sign(self, request):
        hm = HTTPHeaders()
        for name, values in self._signed:
            for v in values:
                hm[name] = v
        return hm


def compute_signature(secret, access_key, token, region, service, amz_date,
                      method, raw_path, query_pairs, signed, payload_hash):
    creds = Credentials(access_key, secret, token)
    v = _Verifier(creds, region, service, raw_path, signed)
    req = AWSRequest(method=method, url='http://verifier.invalid/',
                     headers={'X-Amz-Content-SHA256': payload_hash})
    req.params = list(query_pairs)
    req.context['timestamp'] = amz_date
    if not req.params:
        req.params = {}
    canonical = v.canonical_request(req)
    sts = v.string_to_sign(req, canonical)
    return v.signature(sts, req), canonical, sts


def parse_query(raw_query):
    """[(raw_key, raw_value, key, value)] with S3's form decoding."""
    out = []
    if not raw_query:
        return out
    for piece in raw_query.split('&'):
        if not piece:
            continue
        rk, _, rv = piece.partition('=')
        out.append((rk, rv, urllib.parse.unquote_plus(rk),
                    urllib.parse.unquote_plus(rv)))
    return out


class RequestInfo:
    def __init__(self, method, raw_path, raw_query, headers):
        self.id = uuid.uuid4().hex[:16].upper()
        self.method = method
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.headers = headers
        self.query = parse_query(raw_query)
        self.qdict = {}
        for _, _, k, v in self.query:
            self.qdict.setdefault(k, v)
        self.qlower = {k.lower(): v for k, v in self.qdict.items()}
        path = urllib.parse.unquote(raw_path)
        if not path.startswith('/'):
            path = '/' + path
        bucket, _, key = path[1:].partition('/')
        self.bucket = bucket or None
        self.key = key or None
        self.access_key = None
        self.auth = 'none'
        self.payload = None
        self.op = operation_name(self)
        self.bytes_in = 0
        self.bytes_out = 0
        self.error = None
        self.fault = None
        self.truncate = False
        self.lose = None                 # the `lose` fault: True, or its "then"
        self.wrong_etag = False          # the `etag` fault
        self.mp_etag = None              # a Complete's multipart ETag, from its parts
        self.sign_region = None


def operation_name(r):
    m, q, h = r.method, r.qdict, r.headers
    if r.bucket is None:
        return 'ListBuckets' if m == 'GET' else m + 'Service'
    if r.key is None:
        if m == 'GET':
            if 'uploads' in q:
                return 'ListMultipartUploads'
            if 'location' in q:
                return 'GetBucketLocation'
            if 'versions' in q:
                return 'ListObjectVersions'
            for sub in ('acl', 'cors', 'website', 'versioning', 'policy',
                        'tagging', 'lifecycle'):
                if sub in q:
                    return 'GetBucket' + sub.capitalize()
            return 'ListObjectsV2' if q.get('list-type') == '2' else 'ListObjects'
        if m == 'HEAD':
            return 'HeadBucket'
        if m == 'PUT':
            return 'CreateBucket' if not q else 'PutBucketSubresource'
        if m == 'DELETE':
            return 'DeleteBucket' if not q else 'DeleteBucketSubresource'
        if m == 'POST':
            return 'DeleteObjects' if 'delete' in q else 'PostObject'
        return m + 'Bucket'
    if m == 'GET':
        if 'uploadId' in q:
            return 'ListParts'
        if 'tagging' in q:
            return 'GetObjectTagging'
        if 'acl' in q:
            return 'GetObjectAcl'
        return 'GetObject'
    if m == 'HEAD':
        return 'HeadObject'
    if m == 'PUT':
        if 'partNumber' in q and 'uploadId' in q:
            return 'UploadPartCopy' if 'x-amz-copy-source' in h else 'UploadPart'
        if 'tagging' in q:
            return 'PutObjectTagging'
        if 'acl' in q:
            return 'PutObjectAcl'
        return 'CopyObject' if 'x-amz-copy-source' in h else 'PutObject'
    if m == 'POST':
        if 'uploads' in q:
            return 'CreateMultipartUpload'
        if 'uploadId' in q:
            return 'CompleteMultipartUpload'
        return 'PostObject'
    if m == 'DELETE':
        if 'uploadId' in q:
            return 'AbortMultipartUpload'
        return 'DeleteObject'
    return m + 'Object'


def iso_ms(t):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + \
        '.%03dZ' % (int(t * 1000) % 1000)


def parse_amz_date(s):
    try:
        return calendar.timegm(time.strptime(s, AMZ_DATE))
    except (ValueError, TypeError):
        return None


def etag_norm(etag):
    """An entity tag as compared: no W/, no quotes, lowercase."""
    etag = etag.strip()
    if etag.startswith('W/'):
        etag = etag[2:]
    return etag.strip('"').lower()


def etag_matches(condition, etag):
    """Does an If-Match / If-None-Match value (a list, or *) name etag?"""
    if etag is None:
        return False
    names = [c for c in (x.strip() for x in condition.split(',')) if c]
    return '*' in names or etag_norm(etag) in {etag_norm(c) for c in names}


def multipart_etag(part_md5s):
    """S3's ETag for an object made of parts with these (hex) MD5s."""
    digest = hashlib.md5(b''.join(binascii.unhexlify(m) for m in part_md5s)).hexdigest()
    return '"%s-%d"' % (digest, len(part_md5s))


class _Answer:
    """A backend answer relayed with another body and/or other headers."""

    def __init__(self, resp, body=None, headers=None):
        self._resp = resp
        self.status, self.reason, self.will_close = resp.status, resp.reason, resp.will_close
        repl = {k.lower(): v for k, v in (headers or {}).items()}
        self._headers = []
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in repl:
                v = repl.pop(lk)
            elif lk == 'content-length' and body is not None:
                v = str(len(body))
            self._headers.append((k, v))
        self._headers += list(repl.items())
        self._body = io.BytesIO(body) if body is not None else None

    def getheaders(self):
        return list(self._headers)

    def getheader(self, name, default=None):
        for k, v in self._headers:
            if k.lower() == name.lower():
                return v
        return default

    def read(self, amt=None):
        return self._body.read(amt) if self._body is not None else self._resp.read(amt)


# --------------------------------------------------------------------------
# The front
# --------------------------------------------------------------------------
class Front(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, addr, args):
        super().__init__(addr, Handler)
        self.args = args
        self.creds = load_credentials(args.credentials)
        self.creds_lock = threading.Lock()
        self.creds_stamp = self._creds_stamp()
        self.backend = args.backend
        self.data_dir = os.path.abspath(args.backend_dir)
        self.region = args.region
        self.max_skew = args.max_skew
        self.spool_dir = args.spool_dir or None
        self.fault_policy = FaultPolicy(args.faults, args.region)
        self.log_lock = threading.Lock()
        self.log_file = open(args.request_log, 'a', encoding='utf-8') \
            if args.request_log else None
        self.uploads_lock = threading.Lock()
        # upload_id -> {bucket, key, initiated, access_key}
        self.uploads = {}
        # (bucket, key) -> {'md5': s3rver's MD5 at completion, 'etag': S3's "...-N"}
        self.mp_lock = threading.Lock()
        self.mp_path = os.path.join(self.data_dir, MP_ETAGS_FILE)
        self.mp_etags = self._load_mp_etags()

    def _creds_stamp(self):
        try:
            st = os.stat(self.args.credentials)
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def credentials(self):
        """The credentials file's keys, re-read when the file changed."""
        with self.creds_lock:
            stamp = self._creds_stamp()
            if stamp is not None and stamp != self.creds_stamp:
                try:
                    self.creds = load_credentials(self.args.credentials)
                    self.creds_stamp = stamp
                except (OSError, SystemExit) as e:
                    print('front: credentials file: %s' % e, file=sys.stderr)
            return self.creds

    def log_request_line(self, rec):
        if not self.log_file:
            return
        line = json.dumps(rec, ensure_ascii=False, separators=(',', ':'))
        with self.log_lock:
            self.log_file.write(line + '\n')
            self.log_file.flush()

    # -- multipart ETags (see the docstring) -----------------------------------
    def _load_mp_etags(self):
        try:
            with open(self.mp_path, encoding='utf-8') as f:
                doc = json.load(f)
            return {(b, k): dict(v) for b, keys in doc.items() for k, v in keys.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def _save_mp_etags(self):
        """Writes the mapping (mp_lock held); atomic, so a restart reads it whole."""
        doc = {}
        for (b, k), v in self.mp_etags.items():
            doc.setdefault(b, {})[k] = v
        tmp = self.mp_path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(doc, f)
        os.replace(tmp, self.mp_path)

    def set_mp_etag(self, bucket, key, md5=None, etag=None):
        """Records S3's ETag for a completed upload, or (etag None) forgets it."""
        with self.mp_lock:
            if etag is not None:
                self.mp_etags[(bucket, key)] = {'md5': md5.lower(), 'etag': etag}
            elif self.mp_etags.pop((bucket, key), None) is None:
                return
            self._save_mp_etags()

    def has_mp_etags(self, bucket):
        with self.mp_lock:
            return any(b == bucket for b, _ in self.mp_etags)

    def effective_etag(self, bucket, key, backend_etag):
        """The ETag S3 would show for the object s3rver shows with backend_etag."""
        if not backend_etag:
            return backend_etag
        with self.mp_lock:
            v = self.mp_etags.get((bucket, key))
        if v and v['md5'] == backend_etag.strip().strip('"').lower():
            return v['etag']
        return backend_etag

    def mp_md5(self, bucket, key, etag):
        """s3rver's ETag ("md5") for a multipart ETag of this key, else None."""
        with self.mp_lock:
            v = self.mp_etags.get((bucket, key))
        if v and etag_norm(etag) == etag_norm(v['etag']):
            return '"%s"' % v['md5']
        return None

    # -- s3rver's on-disk layout (lib/stores/filesystem.js) ------------------
    def uploads_dir(self, bucket):
        return os.path.join(self.data_dir, bucket, '._S3rver_uploads')

    def upload_path(self, bucket, upload_id):
        if not re.fullmatch(r'[0-9A-Za-z_-]{1,128}', upload_id or ''):
            return None
        return os.path.join(self.uploads_dir(bucket), upload_id)

    def upload_key(self, bucket, upload_id):
        p = self.upload_path(bucket, upload_id)
        if p is None:
            return None
        try:
            with open(os.path.join(p, 'key'), encoding='utf-8') as f:
                return f.read()
        except OSError:
            return None

    def bucket_exists(self, bucket):
        return bool(bucket) and '/' not in bucket and bucket not in ('.', '..') \
            and os.path.isdir(os.path.join(self.data_dir, bucket))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'AmazonS3'
    sys_version = ''
    timeout = 300
    # Headers and body go out in separate writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK of the headers (40 ms on Linux), a
    # stall S3 does not have.
    disable_nagle_algorithm = True

    # Do not send "100 Continue" before the request is authenticated.
    def handle_expect_100(self):
        self._expect_100 = True
        return True

    def log_message(self, fmt, *args):  # quiet; the JSON log is the record
        pass

    def setup(self):
        super().setup()
        self._backend_conn = None
        self._backend_used = 0.0

    def finish(self):
        try:
            super().finish()
        finally:
            if self._backend_conn is not None:
                self._backend_conn.close()

    def do_GET(self):
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---------------------------------------------------------------------
    def _serve(self):
        self._expect_100 = getattr(self, '_expect_100', False)
        self._body_consumed = False
        t0 = time.time()
        target = self.path
        if target.startswith('http://') or target.startswith('https://'):
            target = '/' + target.split('/', 3)[3] if target.count('/') >= 3 else '/'
        raw_path, _, raw_query = target.partition('?')
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        hflat = {k: ','.join(v) for k, v in headers.items()}
        r = RequestInfo(self.command, raw_path, raw_query, hflat)
        r.header_lists = headers
        status = None
        self._responded = False
        try:
            try:
                status = self._handle(r)
            except S3Err as e:
                r.error = e.code
                status = e.status
                if self._responded:         # too late for an error document
                    self.close_connection = True
                else:
                    self._send_error(r, e)
        except FaultReset:
            r.error = 'fault: reset'
            self.close_connection = True
            self._drop_backend()
        except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
            r.error = r.error or ('client: ' + type(e).__name__)
            self.close_connection = True
            self._drop_backend()
        except Exception:
            traceback.print_exc(file=sys.stderr)
            r.error = 'InternalError'
            self.close_connection = True
            self._drop_backend()
            if not self._responded:
                status = 500
                try:
                    self._send_error(r, S3Err(500, 'InternalError',
                                              'We encountered an internal error '
                                              '(in the test front). Please try again.'))
                except OSError:
                    pass
        finally:
            self._expect_100 = False
            rec = {
                'time': datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%S.%fZ'),
                'id': r.id, 'method': r.method, 'path': r.raw_path,
                'query': r.raw_query, 'status': status, 'op': r.op,
                'bucket': r.bucket, 'key': r.key, 'access_key': r.access_key,
                'auth': r.auth, 'payload': r.payload,
                'bytes_in': r.bytes_in, 'bytes_out': r.bytes_out,
                'error': r.error, 'ms': int((time.time() - t0) * 1000),
            }
            if 'range' in hflat:
                rec['range'] = hflat['range']
            if r.sign_region:
                rec['sign_region'] = r.sign_region
            if r.fault:
                rec['fault'] = r.fault
            canon = urllib.parse.quote(urllib.parse.unquote(raw_path), safe='/~')
            if canon != raw_path:
                rec['noncanonical_path'] = True
            self.server.log_request_line(rec)

    def send_response_only(self, code, message=None):
        if code >= 200:
            self._responded = True
        super().send_response_only(code, message)

    def _drop_backend(self):
        if self._backend_conn is not None:
            self._backend_conn.close()
            self._backend_conn = None

    def _content_length(self, r):
        cl = r.headers.get('content-length')
        if cl is None:
            return 0
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
            return n
        except ValueError:
            raise S3Err(400, 'InvalidArgument', 'Invalid Content-Length',
                        ArgumentName='Content-Length', ArgumentValue=cl)

    def _handle(self, r):
        srv = self.server
        e = srv.fault_policy.before_auth(r)
        if e is not None:
            self._fault(r, e)
        if not r.raw_path.isascii() or not r.raw_query.isascii():
            raise S3Err(400, 'InvalidURI', "Couldn't parse the specified URI "
                        '(non-ASCII bytes must be percent-encoded).')
        if 'transfer-encoding' in r.headers:
            raise S3Err(501, 'NotImplemented',
                        'A header you provided implies functionality that is not implemented',
                        Header='Transfer-Encoding')
        if r.method in ('PUT', 'POST') and 'content-length' not in r.headers:
            raise S3Err(411, 'MissingContentLength',
                        'You must provide the Content-Length HTTP header.')
        self._length = self._content_length(r)
        self._authenticate(r)

        # s3rver can't store these keys; checked for signatures only.
        if r.key is not None and ('//' in r.key or r.key.startswith('/') or any(
                seg in ('.', '..') for seg in r.key.split('/'))):
            raise S3Err(501, 'NotImplemented',
                        "This test server (s3rver 3.7.1 behind a SigV4-checking "
                        "front) cannot store keys containing '//' or '.'/'..' "
                        "segments; the request's signature was verified and "
                        "found valid, nothing was stored or read.")

        upload_id = r.qdict.get('uploadId')
        if r.op == 'ListMultipartUploads':
            return self._list_uploads(r)
        if upload_id is not None and r.op in ('AbortMultipartUpload', 'UploadPart',
                                              'UploadPartCopy', 'ListParts',
                                              'CompleteMultipartUpload'):
            if not srv.bucket_exists(r.bucket):
                raise S3Err(404, 'NoSuchBucket', 'The specified bucket does not exist',
                            BucketName=r.bucket)
            if srv.upload_key(r.bucket, upload_id) != r.key:
                raise S3Err(404, 'NoSuchUpload',
                            'The specified upload does not exist. The upload ID may '
                            'be invalid, or the upload may have been aborted or '
                            'completed.', UploadId=upload_id)
            if r.op == 'AbortMultipartUpload':
                return self._abort_upload(r, upload_id)
            if r.op == 'ListParts':
                return self._list_parts(r, upload_id)

        body = self._read_body(r)
        try:
            if r.op == 'CompleteMultipartUpload':
                self._check_complete(r, upload_id, body)
            e = srv.fault_policy.before_forward(r)
            if e is not None:
                raise e
            return self._forward(r, body)
        finally:
            if body is not None and hasattr(body, 'close'):
                body.close()

    def _fault(self, r, e):
        """Carries out what FaultPolicy.before_auth decided; always raises."""
        try:
            n = int(r.headers.get('content-length') or 0)
        except ValueError:
            n = 0
        if isinstance(e, FaultReset):
            # half of the body (not waiting for one behind Expect: 100-continue),
            # then an RST instead of a FIN: the client sees a reset mid-body
            left = 0 if self._expect_100 else min(n // 2, 256 * 1024)
            while left > 0:
                chunk = self.rfile.read(min(IO_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack('ii', 1, 0))
            raise e
        # an error answer: read the body first, so the client gets the answer
        # (not a broken pipe) and the connection stays usable
        self._length = n
        if not self._expect_100:
            while n > 0:
                chunk = self.rfile.read(min(IO_CHUNK, n))
                if not chunk:
                    break
                n -= len(chunk)
            self._body_consumed = n == 0
        raise e

    # ---------------------------------------------------------------------
    # authentication
    # ---------------------------------------------------------------------
    def _authenticate(self, r):
        srv = self.server
        auth = r.headers.get('authorization')
        presigned = 'X-Amz-Algorithm' in r.qdict or 'x-amz-algorithm' in r.qlower
        if auth and presigned:
            raise S3Err(400, 'InvalidArgument',
                        'Only one auth mechanism allowed; only the X-Amz-Algorithm '
                        'query parameter, Signature query string parameter or the '
                        'Authorization header should be specified',
                        ArgumentName='Authorization', ArgumentValue=auth)
        if (auth and re.match(r'^AWS\s', auth)) or (not auth and not presigned and (
                'Signature' in r.qdict or 'AWSAccessKeyId' in r.qdict)):
            raise S3Err(403, 'AccessDenied',
                        'Signature Version 2 is not supported by this test server; '
                        'sign with AWS4-HMAC-SHA256 (SigV4)')
        if not auth and not presigned:
            raise S3Err(403, 'AccessDenied',
                        'Access Denied (this test server requires SigV4-signed '
                        'requests; the request carried no Authorization header and '
                        'no X-Amz-Signature)')
        now = time.time()
        if auth:
            r.auth = 'header'
            m = re.match(r'^AWS4-HMAC-SHA256\s+(.*)$', auth.strip(), re.S)
            if not m:
                raise S3Err(403, 'AccessDenied',
                            'Unsupported or unparseable Authorization header (only '
                            'AWS4-HMAC-SHA256 is accepted)')
            comps = {}
            for part in m.group(1).split(','):
                k, eq, v = part.strip().partition('=')
                if not eq:
                    raise S3Err(403, 'AccessDenied',
                                'Unparseable Authorization header component %r' % part)
                comps[k.strip()] = v.strip()
            for need in ('Credential', 'SignedHeaders', 'Signature'):
                if need not in comps:
                    raise S3Err(400, 'AuthorizationHeaderMalformed',
                                'The authorization header is malformed; missing %s.' % need)
            credential = comps['Credential']
            signed_names = comps['SignedHeaders']
            signature = comps['Signature']
            amz_date = r.headers.get('x-amz-date')
            if amz_date is None and 'date' in r.headers:
                try:
                    dt = email.utils.parsedate_to_datetime(r.headers['date'])
                    amz_date = dt.astimezone(datetime.timezone.utc).strftime(AMZ_DATE)
                except (TypeError, ValueError):
                    amz_date = None
            t = parse_amz_date(amz_date)
            if t is None:
                raise S3Err(403, 'AccessDenied',
                            'AWS authentication requires a valid Date or x-amz-date header')
            if abs(now - t) > srv.max_skew:
                raise S3Err(403, 'RequestTimeTooSkewed',
                            'The difference between the request time and the current '
                            'time is too large.', RequestTime=amz_date,
                            ServerTime=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),
                            MaxAllowedSkewMilliseconds=str(srv.max_skew * 1000))
            payload = r.headers.get('x-amz-content-sha256')
            if payload is None:
                raise S3Err(400, 'InvalidRequest',
                            'Missing required header for this request: x-amz-content-sha256')
            query_pairs = [(k, v) for _, _, k, v in r.query]
            token = r.headers.get('x-amz-security-token')
        else:
            r.auth = 'presigned'
            q = r.qdict
            if q.get('X-Amz-Algorithm') != 'AWS4-HMAC-SHA256':
                raise S3Err(400, 'AuthorizationQueryParametersError',
                            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
            need = ('X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date',
                    'X-Amz-SignedHeaders', 'X-Amz-Expires')
            if any(n not in q for n in need):
                raise S3Err(400, 'AuthorizationQueryParametersError',
                            'Query-string authentication version 4 requires the '
                            'X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, '
                            'X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires '
                            'parameters.')
            credential = q['X-Amz-Credential']
            signed_names = q['X-Amz-SignedHeaders']
            signature = q['X-Amz-Signature']
            amz_date = q['X-Amz-Date']
            t = parse_amz_date(amz_date)
            if t is None:
                raise S3Err(400, 'AuthorizationQueryParametersError',
                            "X-Amz-Date must be in the ISO8601 Long Format "
                            "\"yyyyMMdd'T'HHmmss'Z'\"")
            try:
                expires = int(q['X-Amz-Expires'])
            except ValueError:
                expires = -1
            if expires < 0:
                raise S3Err(400, 'AuthorizationQueryParametersError',
                            'X-Amz-Expires should be a number')
            if expires > 604800:
                raise S3Err(400, 'AuthorizationQueryParametersError',
                            'X-Amz-Expires must be less than a week (in seconds); '
                            'that is, the given X-Amz-Expires must be less than '
                            '604800 seconds')
            if now > t + expires:
                raise S3Err(403, 'AccessDenied', 'Request has expired',
                            XAmzExpires=str(expires))
            if t - now > srv.max_skew:
                raise S3Err(403, 'AccessDenied', 'Request is not valid yet')
            payload = q.get('X-Amz-Content-Sha256') or \
                r.headers.get('x-amz-content-sha256') or 'UNSIGNED-PAYLOAD'
            query_pairs = [(k, v) for _, _, k, v in r.query if k != 'X-Amz-Signature']
            token = q.get('X-Amz-Security-Token')

        scope = credential.split('/')
        if len(scope) != 5 or scope[4] != 'aws4_request':
            raise S3Err(400, 'AuthorizationHeaderMalformed' if auth else
                        'AuthorizationQueryParametersError',
                        'The credential is malformed; expecting '
                        '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
        access_key, sdate, region, service, _ = scope
        r.access_key = access_key
        r.sign_region = region
        creds = srv.credentials()
        if access_key not in creds:
            raise S3Err(403, 'InvalidAccessKeyId',
                        'The AWS Access Key Id you provided does not exist in our records.',
                        AWSAccessKeyId=access_key)
        secret, want_token = creds[access_key]
        if want_token is None and token is not None:
            raise S3Err(400, 'InvalidToken',
                        'The provided token is malformed or otherwise invalid '
                        '(this access key takes no session token).')
        if want_token is not None and token is None:
            raise S3Err(403, 'InvalidAccessKeyId',
                        'The AWS Access Key Id you provided does not exist in our '
                        'records (temporary credentials need X-Amz-Security-Token).',
                        AWSAccessKeyId=access_key)
        if want_token is not None and not hmac.compare_digest(token, want_token):
            raise S3Err(400, 'InvalidToken',
                        'The provided token is malformed or otherwise invalid.')
        if sdate != amz_date[:8]:
            raise S3Err(400, 'AuthorizationHeaderMalformed' if auth else
                        'AuthorizationQueryParametersError',
                        'Invalid credential date "%s". This date is not the same as '
                        'X-Amz-Date: "%s".' % (sdate, amz_date[:8]))
        if region != srv.region:
            raise S3Err(400, 'AuthorizationHeaderMalformed' if auth else
                        'AuthorizationQueryParametersError',
                        "The authorization header is malformed; the region '%s' is "
                        "wrong; expecting '%s'" % (region, srv.region),
                        Region=srv.region)
        if service != 's3':
            raise S3Err(400, 'AuthorizationHeaderMalformed' if auth else
                        'AuthorizationQueryParametersError',
                        "The authorization header is malformed; incorrect service "
                        "'%s'. This endpoint belongs to 's3'." % service)

        names = [n for n in signed_names.split(';')]
        if 'host' not in names:
            raise S3Err(400, 'AuthorizationHeaderMalformed' if auth else
                        'AuthorizationQueryParametersError',
                        "The 'host' header must be signed (SignedHeaders=%s)" % signed_names)
        signed = []
        for n in names:
            if n not in r.header_lists:
                raise S3Err(403, 'AccessDenied',
                            'There were headers present in the SignedHeaders list '
                            'which were not in the request: %s' % n)
            # http.server decoded the bytes as latin-1; S3 signs the UTF-8 bytes
            signed.append((n, [v.encode('latin-1', 'replace').decode('utf-8', 'replace')
                               for v in r.header_lists[n]]))
        unsigned_amz = sorted(h for h in r.header_lists
                              if h.startswith('x-amz-') and h not in names)
        if unsigned_amz:
            raise S3Err(403, 'AccessDenied',
                        'There were headers present in the request which were not '
                        'signed', HeadersNotSigned=', '.join(unsigned_amz))
        if not (HEX64.match(payload) or payload in (
                'UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
                'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
                'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')):
            raise S3Err(400, 'InvalidArgument',
                        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, '
                        'STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.',
                        ArgumentName='x-amz-content-sha256', ArgumentValue=payload)
        r.payload = payload if not HEX64.match(payload) else 'sha256'

        calc, canonical, sts = compute_signature(
            secret, access_key, token, region, service, amz_date, r.method,
            r.raw_path, query_pairs, signed, payload)
        if not hmac.compare_digest(calc, signature):
            raise S3Err(403, 'SignatureDoesNotMatch',
                        'The request signature we calculated does not match the '
                        'signature you provided. Check your key and signing method.',
                        AWSAccessKeyId=access_key, StringToSign=sts,
                        SignatureProvided=signature, CanonicalRequest=canonical)
        if payload.startswith('STREAMING-'):
            raise S3Err(501, 'NotImplemented',
                        'This test server does not implement aws-chunked payloads '
                        '(%s); send a hex SHA-256 or UNSIGNED-PAYLOAD' % payload,
                        Header='x-amz-content-sha256')
        r.payload_hash = payload

    # ---------------------------------------------------------------------
    # bodies
    # ---------------------------------------------------------------------
    def _continue(self):
        if self._expect_100:
            self._expect_100 = False
            self.wfile.write(b'HTTP/1.1 100 Continue\r\n\r\n')

    def _read_body(self, r):
        """None (empty), a spooled verified file, or 'stream' (forward as read)."""
        n = self._length
        if n == 0:
            self._body_consumed = True
            if HEX64.match(r.payload_hash) and r.payload_hash.lower() != EMPTY_SHA256:
                raise S3Err(400, 'XAmzContentSHA256Mismatch',
                            "The provided 'x-amz-content-sha256' header does not match "
                            "what was computed.",
                            ClientComputedContentSHA256=r.payload_hash,
                            S3ComputedContentSHA256=EMPTY_SHA256)
            return None
        if not HEX64.match(r.payload_hash):
            if r.op in ('PutObject', 'UploadPart'):
                # spooled whole first, as S3 keeps nothing of a body cut short
                # (a streamed part that its client gives up mid-body)
                return self._spool(r, n, None)
            if r.op != 'CompleteMultipartUpload':
                return 'stream'
            if n > 4 * 1024 * 1024:
                raise S3Err(400, 'MalformedXML',
                            'The XML you provided was too large')
        self._continue()
        if not HEX64.match(r.payload_hash):   # small unsigned XML body
            data = self.rfile.read(n)
            if len(data) != n:
                raise ConnectionResetError('client closed mid-body')
            r.bytes_in += n
            self._body_consumed = True
            return io.BytesIO(data)
        return self._spool(r, n, r.payload_hash.lower())

    def _spool(self, r, n, want_sha256):
        """The n-byte body in a spooled file, checked against want_sha256 (None: unsigned)."""
        self._continue()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY,
                                              dir=self.server.spool_dir)
        h = hashlib.sha256()
        left = n
        try:
            while left:
                chunk = self.rfile.read(min(IO_CHUNK, left))
                if not chunk:
                    raise ConnectionResetError('client closed mid-body')
                h.update(chunk)
                spool.write(chunk)
                left -= len(chunk)
                r.bytes_in += len(chunk)
        except BaseException:
            spool.close()
            raise
        self._body_consumed = True
        got = h.hexdigest()
        if want_sha256 is not None and got != want_sha256:
            spool.close()
            raise S3Err(400, 'XAmzContentSHA256Mismatch',
                        "The provided 'x-amz-content-sha256' header does not match "
                        "what was computed.",
                        ClientComputedContentSHA256=r.payload_hash,
                        S3ComputedContentSHA256=got)
        spool.seek(0)
        return spool

    # ---------------------------------------------------------------------
    # multipart uploads (what s3rver lacks)
    # ---------------------------------------------------------------------
    def _abort_upload(self, r, upload_id):
        srv = self.server
        self._drain()
        p = srv.upload_path(r.bucket, upload_id)
        shutil.rmtree(p, ignore_errors=True)
        with srv.uploads_lock:
            srv.uploads.pop(upload_id, None)
        self._send_simple(r, 204, b'', {})
        return 204

    def _list_uploads(self, r):
        srv = self.server
        self._drain()
        if not srv.bucket_exists(r.bucket):
            raise S3Err(404, 'NoSuchBucket', 'The specified bucket does not exist',
                        BucketName=r.bucket)
        q = r.qdict
        prefix = q.get('prefix', '')
        delimiter = q.get('delimiter', '')
        key_marker = q.get('key-marker', '')
        id_marker = q.get('upload-id-marker', '')
        enc = q.get('encoding-type')
        try:
            max_uploads = max(0, min(1000, int(q.get('max-uploads', '1000'))))
        except ValueError:
            raise S3Err(400, 'InvalidArgument', 'max-uploads must be an integer',
                        ArgumentName='max-uploads', ArgumentValue=q.get('max-uploads'))
        udir = srv.uploads_dir(r.bucket)
        entries = []
        try:
            names = os.listdir(udir)
        except OSError:
            names = []
        for uid in names:
            key = srv.upload_key(r.bucket, uid)
            if key is None:
                continue
            with srv.uploads_lock:
                info = srv.uploads.get(uid)
            if info:
                initiated = info['initiated']
            else:
                initiated = os.stat(os.path.join(udir, uid, 'key')).st_mtime
            entries.append((key, initiated, uid))
        entries.sort()
        ename = (lambda s: urllib.parse.quote(s, safe='/')) if enc == 'url' else (lambda s: s)
        uploads, prefixes, truncated = [], [], False
        last_key = last_id = ''
        for key, initiated, uid in entries:
            if not key.startswith(prefix):
                continue
            if key_marker:
                if key < key_marker or (key == key_marker and (
                        not id_marker or uid <= id_marker)):
                    continue
            if delimiter:
                i = key.find(delimiter, len(prefix))
                if i >= 0:
                    cp = key[:i + len(delimiter)]
                    if cp not in prefixes:
                        if len(uploads) + len(prefixes) >= max_uploads:
                            truncated = True
                            break
                        prefixes.append(cp)
                        last_key, last_id = key, uid
                    continue
            if len(uploads) + len(prefixes) >= max_uploads:
                truncated = True
                break
            uploads.append((key, initiated, uid))
            last_key, last_id = key, uid
        x = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<ListMultipartUploadsResult xmlns="%s">' % S3_NS,
             '<Bucket>%s</Bucket>' % xml_escape(r.bucket),
             '<KeyMarker>%s</KeyMarker>' % xml_escape(ename(key_marker)),
             '<UploadIdMarker>%s</UploadIdMarker>' % xml_escape(id_marker)]
        if truncated:
            x.append('<NextKeyMarker>%s</NextKeyMarker>' % xml_escape(ename(last_key)))
            x.append('<NextUploadIdMarker>%s</NextUploadIdMarker>' % xml_escape(last_id))
        if enc == 'url':
            x.append('<EncodingType>url</EncodingType>')
        x.append('<Prefix>%s</Prefix>' % xml_escape(ename(prefix)))
        if delimiter:
            x.append('<Delimiter>%s</Delimiter>' % xml_escape(ename(delimiter)))
        x.append('<MaxUploads>%d</MaxUploads>' % max_uploads)
        x.append('<IsTruncated>%s</IsTruncated>' % ('true' if truncated else 'false'))
        owner = '<ID>123456789000</ID><DisplayName>S3rver</DisplayName>'
        for key, initiated, uid in uploads:
            ts = iso_ms(initiated)
            x.append('<Upload><Key>%s</Key><UploadId>%s</UploadId>'
                     '<Initiator>%s</Initiator><Owner>%s</Owner>'
                     '<StorageClass>STANDARD</StorageClass>'
                     '<Initiated>%s</Initiated></Upload>'
                     % (xml_escape(ename(key)), uid, owner, owner, ts))
        for cp in prefixes:
            x.append('<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>'
                     % xml_escape(ename(cp)))
        x.append('</ListMultipartUploadsResult>')
        body = ''.join(x).encode('utf-8')
        self._send_simple(r, 200, body, {'Content-Type': 'application/xml'})
        return 200

    def _list_parts(self, r, upload_id):
        srv = self.server
        self._drain()
        q = r.qdict
        try:
            marker = int(q.get('part-number-marker', '0') or 0)
            max_parts = max(0, min(1000, int(q.get('max-parts', '1000'))))
        except ValueError:
            raise S3Err(400, 'InvalidArgument',
                        'part-number-marker and max-parts must be integers')
        udir = srv.upload_path(r.bucket, upload_id)
        parts = []
        for name in os.listdir(udir):
            if not name.isdigit() or int(name) <= marker:
                continue
            try:
                with open(os.path.join(udir, name + '.md5'), encoding='ascii') as f:
                    md5 = f.read().strip()
                st = os.stat(os.path.join(udir, name))
            except OSError:
                continue        # still being written
            parts.append((int(name), md5, st.st_size, st.st_mtime))
        parts.sort()
        truncated = len(parts) > max_parts
        parts = parts[:max_parts]
        enc = q.get('encoding-type')
        key = urllib.parse.quote(r.key, safe='/') if enc == 'url' else r.key
        owner = '<ID>123456789000</ID><DisplayName>S3rver</DisplayName>'
        x = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<ListPartsResult xmlns="%s">' % S3_NS,
             '<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>'
             % (xml_escape(r.bucket), xml_escape(key), upload_id),
             '<Initiator>%s</Initiator><Owner>%s</Owner>' % (owner, owner),
             '<StorageClass>STANDARD</StorageClass>',
             '<PartNumberMarker>%d</PartNumberMarker>' % marker,
             '<NextPartNumberMarker>%d</NextPartNumberMarker>'
             % (parts[-1][0] if parts else 0),
             '<MaxParts>%d</MaxParts>' % max_parts,
             '<IsTruncated>%s</IsTruncated>' % ('true' if truncated else 'false')]
        if enc == 'url':
            x.append('<EncodingType>url</EncodingType>')
        for n, md5, size, mtime in parts:
            x.append('<Part><PartNumber>%d</PartNumber><LastModified>%s</LastModified>'
                     '<ETag>&quot;%s&quot;</ETag><Size>%d</Size></Part>'
                     % (n, iso_ms(mtime), md5, size))
        x.append('</ListPartsResult>')
        self._send_simple(r, 200, ''.join(x).encode('utf-8'),
                          {'Content-Type': 'application/xml'})
        return 200

    def _check_complete(self, r, upload_id, body):
        """S3's checks s3rver skips: parts exist, ETags match, order, sizes."""
        data = b''
        if body is not None and body != 'stream':
            data = body.read()
            body.seek(0)
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            raise S3Err(400, 'MalformedXML',
                        'The XML you provided was not well-formed or did not '
                        'validate against our published schema')

        def local(tag):
            return tag.rsplit('}', 1)[-1]
        if local(root.tag) != 'CompleteMultipartUpload':
            raise S3Err(400, 'MalformedXML',
                        'The XML you provided was not well-formed or did not '
                        'validate against our published schema')
        parts = []
        for p in root:
            if local(p.tag) != 'Part':
                continue
            num = etag = None
            for c in p:
                if local(c.tag) == 'PartNumber':
                    num = (c.text or '').strip()
                elif local(c.tag) == 'ETag':
                    etag = (c.text or '').strip().replace('"', '')
            if num is None or etag is None or not num.isdigit():
                raise S3Err(400, 'MalformedXML',
                            'The XML you provided was not well-formed or did not '
                            'validate against our published schema')
            parts.append((int(num), etag))
        if not parts:
            raise S3Err(400, 'MalformedXML',
                        'The XML you provided was not well-formed or did not '
                        'validate against our published schema')
        nums = [n for n, _ in parts]
        if nums != sorted(set(nums)):
            raise S3Err(400, 'InvalidPartOrder',
                        'The list of parts was not in ascending order. The parts '
                        'list must be specified in order by part number.',
                        UploadId=upload_id)
        udir = self.server.upload_path(r.bucket, upload_id)
        for i, (n, etag) in enumerate(parts):
            pp = os.path.join(udir, str(n))
            try:
                with open(pp + '.md5', encoding='ascii') as f:
                    md5 = f.read().strip()
                size = os.path.getsize(pp)
            except OSError:
                md5, size = None, None
            if md5 is None or md5 != etag.lower():
                raise S3Err(400, 'InvalidPart',
                            'One or more of the specified parts could not be found. '
                            'The part may not have been uploaded, or the specified '
                            'entity tag may not match the part\'s entity tag.',
                            UploadId=upload_id, PartNumber=str(n), ETag=etag)
            if i < len(parts) - 1 and size < MIN_PART_SIZE:
                raise S3Err(400, 'EntityTooSmall',
                            'Your proposed upload is smaller than the minimum '
                            'allowed size', UploadId=upload_id, PartNumber=str(n),
                            ProposedSize=str(size), MinSizeAllowed=str(MIN_PART_SIZE))
        # each part's ETag is its MD5 (checked above): S3's ETag of the whole
        r.mp_etag = multipart_etag([etag.lower() for _, etag in parts])

    # ---------------------------------------------------------------------
    # forwarding
    # ---------------------------------------------------------------------
    def _backend(self, fresh=False):
        c = self._backend_conn
        if c is not None and (fresh or time.time() - self._backend_used > BACKEND_IDLE_REUSE):
            c.close()
            c = None
        if c is None:
            host, port = self.server.backend
            c = http.client.HTTPConnection(host, port, timeout=300)
            self._backend_conn = c
        return c

    def _forward(self, r, body):
        # query without the presigned auth parameters
        q = '&'.join(piece for piece in r.raw_query.split('&')
                     if piece and urllib.parse.unquote_plus(
                         piece.partition('=')[0]).lower() not in PRESIGN_AUTH_PARAMS)
        target = r.raw_path + ('?' + q if q else '')
        fwd = []
        obj_read = r.op in ('GetObject', 'HeadObject')
        for name, values in r.header_lists.items():
            if name in HOP_BY_HOP or name in ('authorization', 'host', 'content-length',
                                              'x-amz-security-token', 'x-amz-date',
                                              'x-amz-content-sha256'):
                continue
            if obj_read and name == 'if-match':
                continue                # checked here, in _s3_etags
            for v in values:
                if obj_read and name == 'if-none-match':
                    v = self.server.mp_md5(r.bucket, r.key, v) or v   # s3rver compares its MD5
                fwd.append((name, v))
        fwd += self._backend_auth()
        length = self._length if body is not None else 0
        if r.method in ('PUT', 'POST') or length:
            fwd.append(('Content-Length', str(length)))

        replayable = body != 'stream'
        for attempt in (0, 1):
            conn = self._backend(fresh=attempt > 0)
            try:
                conn.putrequest(r.method, target, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in fwd:
                    conn.putheader(k, v)
                conn.endheaders()
                if body == 'stream':
                    self._continue()
                    left = length
                    while left:
                        chunk = self.rfile.read(min(IO_CHUNK, left))
                        if not chunk:
                            raise ConnectionResetError('client closed mid-body')
                        conn.send(chunk)
                        left -= len(chunk)
                        r.bytes_in += len(chunk)
                    self._body_consumed = True
                elif body is not None:
                    body.seek(0)
                    while True:
                        chunk = body.read(IO_CHUNK)
                        if not chunk:
                            break
                        conn.send(chunk)
                resp = conn.getresponse()
                break
            except ConnectionResetError as e:
                if 'client closed' in str(e):
                    raise
                conn.close()
                self._backend_conn = None
                if attempt or not replayable:
                    raise S3Err(503, 'ServiceUnavailable',
                                'backend connection failed: %s' % e)
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                self._backend_conn = None
                if attempt or not replayable:
                    raise S3Err(503, 'ServiceUnavailable',
                                'backend connection failed: %s' % e)
        return self._relay(r, resp)

    def _backend_auth(self):
        """Host and the (unchecked, but required) auth headers s3rver wants."""
        host, port = self.server.backend
        amz_date = time.strftime(AMZ_DATE, time.gmtime())
        return [
            ('Host', '%s:%d' % (host, port)),
            ('x-amz-date', amz_date),
            ('x-amz-content-sha256', 'UNSIGNED-PAYLOAD'),
            ('Authorization', 'AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, '
             'SignedHeaders=host;x-amz-date, Signature=%s'
             % (BACKEND_ACCESS_KEY, amz_date[:8], self.server.region, '0' * 64)),
        ]

    def _backend_request(self, method, target, body=b''):
        """One request to s3rver on a connection of its own; its status."""
        host, port = self.server.backend
        c = http.client.HTTPConnection(host, port, timeout=60)
        try:
            c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in self._backend_auth() + [('Content-Length', str(len(body)))]:
                c.putheader(k, v)
            c.endheaders(body)
            resp = c.getresponse()
            resp.read()
            return resp.status
        finally:
            c.close()

    def _s3_etags(self, r, resp):
        """S3's ETags where s3rver's differ (see the docstring): records and
        shows multipart ETags, forgets them when the key is replaced, checks
        If-Match.  Returns the answer to relay; may raise S3Err (412)."""
        srv = self.server
        status = resp.status
        if r.op == 'CompleteMultipartUpload' and status == 200:
            body = resp.read()
            m = re.search(rb'<ETag>(?:&quot;|")?([0-9a-fA-F]{32})(?:&quot;|")?</ETag>', body)
            if m and r.mp_etag:
                srv.set_mp_etag(r.bucket, r.key, m.group(1).decode('ascii'), r.mp_etag)
                body = body[:m.start()] + b'<ETag>' + \
                    xml_escape(r.mp_etag, XML_QUOT).encode('ascii') + b'</ETag>' + body[m.end():]
            return _Answer(resp, body)
        if r.op in ('PutObject', 'CopyObject', 'DeleteObject') and status < 300:
            srv.set_mp_etag(r.bucket, r.key)
            return resp
        if r.op in ('ListObjectsV2', 'ListObjects') and status == 200 and \
                r.method == 'GET' and srv.has_mp_etags(r.bucket):
            return _Answer(resp, self._list_etags(r, resp.read()))
        if r.op in ('GetObject', 'HeadObject') and status in (200, 206):
            backend = resp.getheader('ETag')
            etag = srv.effective_etag(r.bucket, r.key, backend)
            cond = r.headers.get('if-match')
            if cond is not None and not etag_matches(cond, etag):
                self._drop_backend()        # the body (if any) stays unread
                raise S3Err(412, 'PreconditionFailed',
                            'At least one of the pre-conditions you specified did not hold',
                            Condition='If-Match')
            if etag != backend:
                return _Answer(resp, None, {'ETag': etag})
        return resp

    def _list_etags(self, r, body):
        """A ListObjects(V2) page with S3's ETags for multipart objects."""
        srv = self.server
        url = r.qdict.get('encoding-type') == 'url'

        def fix(m):
            block = m.group(0)
            km = re.search(rb'<Key>([^<]*)</Key>', block)
            em = re.search(rb'<ETag>([^<]*)</ETag>', block)
            if not km or not em:
                return block
            key = xml_unescape(km.group(1).decode('utf-8', 'replace'))
            backend = xml_unescape(em.group(1).decode('utf-8', 'replace'), {'&quot;': '"'})
            etag = srv.effective_etag(r.bucket, key, backend)
            if etag == backend and url:
                etag = srv.effective_etag(r.bucket, urllib.parse.unquote(key), backend)
            if etag == backend:
                return block
            return block[:em.start(1)] + xml_escape(etag, XML_QUOT).encode('utf-8') + block[em.end(1):]
        return re.sub(rb'<Contents>.*?</Contents>', fix, body, flags=re.S)

    def _completed(self, r, status):
        """Bookkeeping after the backend answered (whether or not the client hears it)."""
        if r.op == 'CompleteMultipartUpload' and status == 200:
            with self.server.uploads_lock:
                self.server.uploads.pop(r.qdict.get('uploadId'), None)

    def _relay_lost(self, r, resp):
        """The `lose` fault: the backend acted; the client gets a reset, no answer."""
        if r.method != 'HEAD':
            resp.read()
        self._drop_backend()
        self._completed(r, resp.status)
        if r.lose in ('overwrite', 'delete') and resp.status < 300 and r.key:
            if r.lose == 'overwrite':
                self._backend_request('PUT', r.raw_path, b'replaced by the lose/overwrite fault\n')
            else:
                self._backend_request('DELETE', r.raw_path)
            self.server.set_mp_etag(r.bucket, r.key)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        raise FaultReset()

    def _relay_truncated(self, r, resp):
        """The `truncate` fault: half of the answer's bytes, then a reset."""
        status = resp.status
        body = b'' if r.method == 'HEAD' else resp.read()
        head = ['HTTP/1.1 %d %s' % (status, resp.reason)]
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() not in ('content-length', 'date', 'server'):
                head.append('%s: %s' % (k, v))
        head += ['Date: ' + self.date_time_string(), 'Server: AmazonS3',
                 'Content-Length: %d' % len(body), '', '']
        raw = '\r\n'.join(head).encode('latin-1')
        data = raw + body[:len(body) // 2] if body else raw[:len(raw) // 2]
        self._responded = True
        self._drop_backend()
        self._completed(r, status)
        self.wfile.write(data)
        self.wfile.flush()
        r.bytes_out += len(data)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        raise FaultReset()

    def _relay(self, r, resp):
        resp = self._s3_etags(r, resp)
        if r.wrong_etag and resp.status < 300 and resp.getheader('ETag'):
            resp = _Answer(resp, None, {'ETag': WRONG_ETAG})
        if r.lose:
            return self._relay_lost(r, resp)
        if r.truncate:
            return self._relay_truncated(r, resp)
        status = resp.status
        head_only = r.method == 'HEAD' or status in (204, 304) or 100 <= status < 200
        srv = self.server
        # remember uploads we see being created/completed
        capture = (r.op == 'CreateMultipartUpload' and status == 200) or status >= 400
        length = resp.getheader('Content-Length')
        self.send_response_only(status, resp.reason)
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in ('content-length', 'date', 'server'):
                continue
            self.send_header(k, v)
        self.send_header('Date', self.date_time_string())
        self.send_header('Server', 'AmazonS3')
        chunked = False
        if head_only:
            if length is not None:
                self.send_header('Content-Length', length)
        elif length is not None:
            self.send_header('Content-Length', length)
        else:
            self.send_header('Transfer-Encoding', 'chunked')
            chunked = True
        if not self._body_consumed:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        captured = b''
        if not head_only:
            while True:
                chunk = resp.read(IO_CHUNK)
                if not chunk:
                    break
                if capture and len(captured) < 65536:
                    captured += chunk
                if chunked:
                    self.wfile.write(b'%x\r\n' % len(chunk) + chunk + b'\r\n')
                else:
                    self.wfile.write(chunk)
                r.bytes_out += len(chunk)
            if chunked:
                self.wfile.write(b'0\r\n\r\n')
        else:
            resp.read()
        self._backend_used = time.time()
        if resp.will_close:
            self._backend_conn.close()
            self._backend_conn = None
        if capture and status == 200:
            m = re.search(rb'<UploadId>([^<]+)</UploadId>', captured)
            if m:
                with srv.uploads_lock:
                    srv.uploads[m.group(1).decode()] = {
                        'bucket': r.bucket, 'key': r.key,
                        'initiated': time.time(), 'access_key': r.access_key}
        self._completed(r, status)
        if status >= 400:
            m = re.search(rb'<Code>([^<]+)</Code>', captured)
            r.error = (m.group(1).decode('utf-8', 'replace') if m else
                       resp.getheader('x-amz-error-code') or str(status))
        srv.fault_policy.after_response(r, status)
        return status

    # ---------------------------------------------------------------------
    # answers made here
    # ---------------------------------------------------------------------
    def _drain(self):
        """Read and discard a (small) request body so the connection stays usable."""
        n = self._length
        if n == 0:
            self._body_consumed = True
            return
        if n <= 1024 * 1024 and not self._expect_100:
            while n:
                chunk = self.rfile.read(min(IO_CHUNK, n))
                if not chunk:
                    break
                n -= len(chunk)
            self._body_consumed = n == 0

    def _send_simple(self, r, status, body, headers):
        self.send_response_only(status)
        self.send_header('Date', self.date_time_string())
        self.send_header('Server', 'AmazonS3')
        self.send_header('x-amz-request-id', r.id)
        self.send_header('x-amz-id-2', binascii.hexlify(r.id.encode()).decode())
        for k, v in headers.items():
            self.send_header(k, v)
        if status != 204:
            self.send_header('Content-Length', str(len(body)))
        if not self._body_consumed:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if r.method != 'HEAD' and status != 204:
            self.wfile.write(body)
            r.bytes_out += len(body)

    def _send_error(self, r, e):
        if not self._body_consumed:
            self._drain()
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
                 '<Code>%s</Code>' % xml_escape(e.code),
                 '<Message>%s</Message>' % xml_escape(e.message)]
        for k, v in e.detail.items():
            parts.append('<%s>%s</%s>' % (k, xml_escape(str(v)), k))
        parts.append('<RequestId>%s</RequestId>' % r.id)
        parts.append('<HostId>%s</HostId></Error>' % binascii.hexlify(r.id.encode()).decode())
        body = ''.join(parts).encode('utf-8')
        headers = {'Content-Type': 'application/xml'}
        headers.update(getattr(e, 'headers', {}))
        self._send_simple(r, e.status, body, headers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--listen', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0, help='0 = pick a free port')
    ap.add_argument('--port-file', help='write the port listened on here')
    ap.add_argument('--backend', required=True, help='s3rver HOST:PORT')
    ap.add_argument('--backend-dir', required=True, help="s3rver's data directory")
    ap.add_argument('--credentials', required=True,
                    help='file: ACCESS_KEY SECRET [SESSION_TOKEN] per line')
    ap.add_argument('--request-log', help='JSON lines, one per request')
    ap.add_argument('--region', default='us-east-1')
    ap.add_argument('--max-skew', type=int, default=900, help='seconds')
    ap.add_argument('--spool-dir', help='temp dir for bodies being verified')
    ap.add_argument('--faults', help='JSON fault rules, re-read when changed (see the docstring)')
    ap.add_argument('--tls-cert', help='serve HTTPS with this certificate (PEM) ...')
    ap.add_argument('--tls-key', help='... and this key')
    args = ap.parse_args()
    host, _, port = args.backend.rpartition(':')
    args.backend = (host or '127.0.0.1', int(port))
    srv = Front((args.listen, args.port), args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # the handshake happens on the handler's thread, at its first read
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % port)
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
