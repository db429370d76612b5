#!/usr/bin/python3
"""src/sigv4.c against botocore, signature for signature (TAP).

Usage: /usr/bin/python3 sigv4_botocore.py PATH/TO/sigv4_tool

botocore is run with its pure-Python signers (SigV4Auth, S3SigV4Auth,
SigV4QueryAuth, S3SigV4QueryAuth): with awscrt installed botocore would
otherwise swap in the CRT signers, whose presigned query lists its
parameters in another order. The clock is frozen the way botocore's own
tests do it, by mocking botocore.auth.datetime.
"""
import datetime
import hashlib
import os
import subprocess
import sys
from unittest import mock
from urllib.parse import unquote, urlsplit

# Before botocore is imported: pure-Python signers, no user config or creds.
os.environ["BOTO_DISABLE_CRT"] = "true"
for var in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ[var] = "/dev/null"
for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
    os.environ.pop(var, None)

try:
    import botocore.auth
    import botocore.session
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode, percent_encode_sequence
except ImportError as e:
    print(f"Bail out! botocore is needed: {e}")
    sys.exit(1)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

TOOL = sys.argv[1]
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDO+token/with+odd=chars=="

def utc(*args):
    return datetime.datetime(*args)


def epoch(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


class frozen:
    """Freezes botocore.auth's clock at dt (naive UTC)."""

    def __init__(self, dt):
        self.dt = dt

    def __enter__(self):
        self.patch = mock.patch("botocore.auth.datetime")
        m = self.patch.start()
        m.datetime.utcnow.return_value = self.dt
        # newer botocore asks for an aware now(); answer that too
        m.datetime.now.return_value = self.dt.replace(tzinfo=datetime.timezone.utc)
        return self

    def __exit__(self, *exc):
        self.patch.stop()


def tool(*args):
    p = subprocess.run([TOOL, *args], capture_output=True)
    if p.returncode != 0:
        return {"error": p.stderr.decode(errors="replace")}
    out = {"headers": {}}
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition(": ")
        if k == "header":
            hk, _, hv = v.partition(": ")
            out["headers"][hk.lower()] = hv
        else:
            out[k] = v
    return out


def tool_args(mode, host, raw_path, pairs, headers, payload, region, t, token, expires=None):
    a = [mode, "--host", host, "--path-raw", raw_path, "--region", region, "--service", "s3",
         "--time", str(epoch(t)), "--akid", AKID, "--secret", SECRET]
    if mode == "header":
        a += ["--content-sha256"]
    if payload is not None:
        a += ["--payload", payload]
    if token:
        a += ["--token", token]
    if expires is not None:
        a += ["--expires", str(expires)]
    for k, v in pairs:
        a += ["--query", f"{k}={v}"]
    for k, v in headers.items():
        a += ["--header", f"{k}:{v}"]
    return a


# --- S3, straight through the auth classes -----------------------------------

S3_KEYS = [
    "plain.txt",
    "with space/and more spaces.tsv",
    "plus+sign",
    "tilde~ok",
    "eq=and&amp",
    "utf8/ünïcödé/日本語.txt",
    "double//slash",
    "trailing/",
    "/leading",
    "a/./b/../c",
    "percent%20literal",
    "quote'\"<>#?[]@!$()*,;:",
    "exports/2024-01-01/result.part_00000",
]
S3_QUERIES = [
    [],
    [("uploadId", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--"), ("partNumber", "7")],
    [("list-type", "2"), ("prefix", "dir with space/ü+"), ("continuation-token", "1/ab+c=="),
     ("delimiter", "/")],
    [("versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")],
    [("uploads", "")],
    [("tagging", ""), ("x-id", "PutObjectTagging")],
]
S3_HOSTS = [
    ("my-bucket.s3.us-east-1.amazonaws.com", ""),          # virtual-hosted style
    ("s3.eu-west-1.amazonaws.com", "/my-bucket"),          # path style
    ("127.0.0.1:9000", "/local-bucket"),                   # an S3-compatible server
]
S3_HEADERS = [
    {},
    {"Content-Type": "text/tab-separated-values", "x-amz-meta-Owner": "  two   spaces  ",
     "x-amz-server-side-encryption": "aws:kms", "User-Agent": "bqlua/0.1"},
    {"Range": "bytes=0-99"},
]
TIMES = [utc(2024, 1, 1, 23, 59, 59), utc(2024, 1, 2, 0, 0, 0), utc(2015, 8, 30, 12, 36, 0),
         utc(2024, 2, 29, 23, 59, 59), utc(2024, 3, 1, 0, 0, 0)]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def s3_header_case(i, key, pairs):
    host, prefix = S3_HOSTS[i % len(S3_HOSTS)]
    headers = S3_HEADERS[i % len(S3_HEADERS)]
    region = REGIONS[i % len(REGIONS)]
    t = TIMES[i % len(TIMES)]
    token = TOKEN if i % 2 else None
    method = ["GET", "PUT", "POST", "DELETE", "HEAD"][i % 5]
    body = b"" if method in ("GET", "DELETE", "HEAD") else ("row\t%d\n" % i).encode() * (i + 1)
    unsigned = i % 4 == 3   # S3 lets https uploads send UNSIGNED-PAYLOAD
    scheme = "http" if host.startswith("127.") else "https"
    raw_path = f"{prefix}/{key}"
    url = f"{scheme}://{host}{percent_encode(raw_path, safe='/~')}"
    if pairs:
        url += "?" + percent_encode_sequence(pairs)
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    if unsigned and scheme == "https":
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    with frozen(t):
        botocore.auth.S3SigV4Auth(Credentials(AKID, SECRET, TOKEN if token else None),
                                  "s3", region).add_auth(req)
    payload = req.headers["X-Amz-Content-SHA256"]
    if not unsigned or scheme != "https":
        assert payload == hashlib.sha256(body).hexdigest()
    got = tool(*tool_args("header", host, raw_path, pairs, headers, payload, region, t, token),
               "--method", method)
    desc = f"s3 header {method} {host} {raw_path!r} {pairs!r} {region} {t.isoformat()} token={bool(token)}"
    want = {
        "authorization": req.headers["Authorization"],
        "x-amz-date": req.headers["X-Amz-Date"],
        "x-amz-content-sha256": payload,
        "x-amz-security-token": req.headers.get("X-Amz-Security-Token"),
    }
    have = {k: got.get("headers", {}).get(k) for k in want}
    ok(have == want and got.get("path") == urlsplit(url).path, desc,
       f"want {want}\nhave {have}\npath want {urlsplit(url).path} have {got.get('path')}\n{got.get('error', '')}")


def s3_presign_case(i, key, pairs):
    host, prefix = S3_HOSTS[(i + 1) % len(S3_HOSTS)]
    region = REGIONS[(i + 2) % len(REGIONS)]
    t = TIMES[(i + 1) % len(TIMES)]
    token = TOKEN if i % 3 else None
    expires = [3600, 900, 604800, 1][i % 4]
    raw_path = f"{prefix}/{key}"
    url = f"https://{host}{percent_encode(raw_path, safe='/~')}"
    if pairs:
        url += "?" + percent_encode_sequence(pairs)
    req = AWSRequest(method="GET", url=url, headers={})
    with frozen(t):
        botocore.auth.S3SigV4QueryAuth(Credentials(AKID, SECRET, TOKEN if token else None),
                                       "s3", region, expires=expires).add_auth(req)
    got = tool(*tool_args("presign", host, raw_path, pairs, {}, "UNSIGNED-PAYLOAD", region, t,
                          token, expires))
    mine = f"https://{host}{got.get('path')}?{got.get('query')}"
    ok(mine == req.url, f"s3 presign {host} {raw_path!r} {pairs!r} {region} expires={expires} "
                        f"token={bool(token)}", f"want {req.url}\nhave {mine}\n{got.get('error', '')}")


# --- S3, through a real client (its own serializer, headers and checksums) ---

class Captured(Exception):
    pass


def capture(request, **kwargs):
    raise Captured(request)


def s3_client(region, token, **cfg):
    s = botocore.session.get_session()
    c = s.create_client("s3", region_name=region, aws_access_key_id=AKID,
                        aws_secret_access_key=SECRET, aws_session_token=token,
                        config=Config(signature_version="s3v4", retries={"max_attempts": 0}, **cfg),
                        **({"endpoint_url": "http://127.0.0.1:9000"} if cfg.get("s3") else {}))
    c.meta.events.register("before-send.s3", capture)
    return c


def client_case(client, region, t, op, raw_path, **params):
    with frozen(t):
        try:
            getattr(client, op)(**params)
            ok(False, f"client {op}: request captured")
            return
        except Captured as e:
            sent = e.args[0]
    parts = urlsplit(sent.url)
    pairs = []
    for p in parts.query.split("&") if parts.query else []:
        k, _, v = p.partition("=")
        pairs.append((unquote(k), unquote(v)))
    want = sent.headers["Authorization"]
    want = want.decode() if isinstance(want, bytes) else want
    # amz-sdk-*, Content-Length, ... join the request after it was signed:
    # give the tool the headers the client signed (the rest it must add itself)
    signed = want.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in sent.headers.items()
               if k.lower() in signed and k.lower() not in (
                   "host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")}
    token = sent.headers.get("X-Amz-Security-Token")
    token = token.decode() if isinstance(token, bytes) else token
    got = tool(*tool_args("header", parts.netloc, raw_path, pairs, headers,
                          sent.headers["X-Amz-Content-SHA256"], region, t, token),
               "--method", sent.method)
    have = got.get("headers", {}).get("authorization")
    ok(have == want and got.get("path") == parts.path,
       f"client {op} {sent.url.split('?')[0]} token={bool(token)}",
       f"want {want}\nhave {have}\npath want {parts.path} have {got.get('path')}\n"
       f"headers {headers}\n{got.get('error', '')}")


def client_presign_case(client, region, t, op, raw_path, **params):
    with frozen(t):
        url = client.generate_presigned_url(op, Params=params, ExpiresIn=900)
    parts = urlsplit(url)
    ours = parts.query.split("&X-Amz-Algorithm=")[0] if "&X-Amz-Algorithm=" in parts.query else ""
    pairs = []
    for p in ours.split("&") if ours else []:
        k, _, v = p.partition("=")
        pairs.append((unquote(k), unquote(v)))
    token = client._request_signer._credentials.token
    got = tool(*tool_args("presign", parts.netloc, raw_path, pairs, {}, "UNSIGNED-PAYLOAD",
                          region, t, token, 900))
    mine = f"{parts.scheme}://{parts.netloc}{got.get('path')}?{got.get('query')}"
    ok(mine == url, f"client presign {op} {raw_path!r} token={bool(token)}",
       f"want {url}\nhave {mine}\n{got.get('error', '')}")


# --- RDS ---------------------------------------------------------------------

RDS_USERS = ["admin", "iam_reader", "with space", "plus+eq=amp&", "ünïcödé", "a/b~c.d-e_f",
             "%41literal", "O'Brien@corp"]
RDS_HOSTS = [("mydb.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com", 3306),
             ("MyDB.Cluster-Ro-X.eu-west-1.rds.amazonaws.com", 3306),
             ("proxy-1.proxy-abc.ap-southeast-2.rds.amazonaws.com", 443),
             ("10.0.12.7", 5432),
             ("localhost", 1)]
RDS_TIMES = [utc(2024, 1, 1, 23, 59, 59), utc(2024, 1, 2, 0, 0, 0),
             utc(2023, 12, 31, 23, 59, 59), utc(2024, 1, 1, 0, 0, 0)]


def rds_cases():
    clients = {}
    s = botocore.session.get_session()
    i = 0
    for t in RDS_TIMES:
        for user in RDS_USERS:
            for token in (None, TOKEN):
                host, port = RDS_HOSTS[i % len(RDS_HOSTS)]
                region = REGIONS[i % len(REGIONS)]
                i += 1
                if (region, token) not in clients:
                    clients[(region, token)] = s.create_client(
                        "rds", region_name=region, aws_access_key_id=AKID,
                        aws_secret_access_key=SECRET, aws_session_token=token)
                with frozen(t):
                    want = clients[(region, token)].generate_db_auth_token(
                        DBHostname=host, Port=port, DBUsername=user, Region=region)
                args = ["rds", host, str(port), user, region, str(epoch(t)), AKID, SECRET]
                p = subprocess.run([TOOL, *args, *([token] if token else [])],
                                   capture_output=True, text=True)
                have = p.stdout.rstrip("\n")
                # the frozen clock really reached botocore (the scope date rolls over)
                ok(have == want and f"X-Amz-Date={t:%Y%m%dT%H%M%S}Z" in want
                   and f"%2F{t:%Y%m%d}%2F{region}%2Frds-db%2F" in want,
                   f"rds token {host}:{port} user={user!r} {region} {t.isoformat()} "
                   f"token={bool(token)}", f"want {want}\nhave {have}\n{p.stderr}")


def main():
    ok(botocore.auth.AUTH_TYPE_MAPS["v4-query"] is botocore.auth.SigV4QueryAuth
       and botocore.auth.AUTH_TYPE_MAPS["s3v4"] is botocore.auth.S3SigV4Auth,
       "botocore uses its pure-Python SigV4 signers")

    # the key encoder against botocore's (serialize.py: safe='/~')
    for key in S3_KEYS:
        got = subprocess.run([TOOL, "uri-encode", "--keep-slash", key], capture_output=True,
                             text=True).stdout.rstrip("\n")
        ok(got == percent_encode(key, safe="/~"), f"uri-encode --keep-slash {key!r}",
           f"want {percent_encode(key, safe='/~')}\nhave {got}")
        got = subprocess.run([TOOL, "uri-encode", key], capture_output=True,
                             text=True).stdout.rstrip("\n")
        ok(got == percent_encode(key), f"uri-encode {key!r}", f"want {percent_encode(key)}\nhave {got}")

    i = 0
    for key in S3_KEYS:
        for pairs in S3_QUERIES:
            s3_header_case(i, key, pairs)
            s3_presign_case(i, key, pairs)
            i += 1

    for region, token in (("us-east-1", None), ("eu-west-1", TOKEN)):
        for style in ("virtual", "path"):
            cfg = {"s3": {"addressing_style": "path"}} if style == "path" else {}
            c = s3_client(region, token, **cfg)
            for j, key in enumerate(S3_KEYS):
                t = TIMES[j % len(TIMES)]
                pre = "/bucket-1" if style == "path" else ""
                client_case(c, region, t, "get_object", f"{pre}/{key}", Bucket="bucket-1", Key=key,
                            Range="bytes=10-", VersionId="v+1/=")
                client_case(c, region, t, "put_object", f"{pre}/{key}", Bucket="bucket-1", Key=key,
                            Body=b"a\tb\n", ContentType="text/plain", Metadata={"k": "v  w"})
                client_case(c, region, t, "upload_part", f"{pre}/{key}", Bucket="bucket-1", Key=key,
                            UploadId="up/+=", PartNumber=j + 1, Body=b"x" * j)
                client_presign_case(c, region, t, "get_object", f"{pre}/{key}", Bucket="bucket-1",
                                    Key=key)
            client_case(c, region, TIMES[0], "list_objects_v2", pre or "/",
                        Bucket="bucket-1", Prefix="dir with space/ü+", Delimiter="/",
                        ContinuationToken="a/b+c==")
            client_case(c, region, TIMES[1], "create_multipart_upload", f"{pre}/k e+y",
                        Bucket="bucket-1", Key="k e+y")
            client_case(c, region, TIMES[1], "delete_object", f"{pre}/x",
                        Bucket="bucket-1", Key="x")

    rds_cases()
    return bqtest.done()


if __name__ == "__main__":
    sys.exit(main())
