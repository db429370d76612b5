#!/usr/bin/python3
"""Server-side check of an RDS IAM auth token, independent of bqlua.

Used by scripts/mariadb-test-server.sh as the PAM (pam_exec) verifier of the
emulated RDS IAM user, and usable from the command line.

A token is a SigV4-presigned URL without its scheme:
  HOST:PORT/?Action=connect&DBUser=USER&X-Amz-Algorithm=AWS4-HMAC-SHA256
  &X-Amz-Credential=AKID/YYYYMMDD/REGION/rds-db/aws4_request&X-Amz-Date=...
  &X-Amz-Expires=900&X-Amz-SignedHeaders=host[&X-Amz-Security-Token=...]
  &X-Amz-Signature=...

The check: the query has exactly the expected parameters, Action=connect,
DBUser is the user logging in, HOST:PORT is this server, the credential scope
is REGION/rds-db/aws4_request for the token's date, the token is neither
expired nor dated in the future (beyond --skew seconds), the access key is
known (--secrets), its session token (if the secrets file gives one) matches,
and the signature recomputed with botocore's SigV4QueryAuth, with botocore's
clock frozen at the token's X-Amz-Date, equals X-Amz-Signature
(hmac.compare_digest).

Modes:
  --pam     (from pam_exec expose_authtok): the token on stdin (possibly
            NUL-terminated), the user in $PAM_USER.
  --check TOKEN | --check -  (token on stdin): the user from --user.

Exit status: 0 accepted, 1 refused, 2 usage error. The reason (never a
secret, a signature or a session token) is appended to --log if given, and
printed on stderr in --check mode.

Secrets file (JSON, written by the test server):
  {"AKID...": {"secret": "...", "session_token": "..." (optional)}, ...}
"""

import argparse
import datetime
import hmac
import json
import os
import sys
import time
import types
from unittest import mock
from urllib.parse import parse_qsl

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4_FMT = "%Y%m%dT%H%M%SZ"
PAM_MAX = 512  # Linux-PAM's PAM_MAX_RESP_SIZE: pam_exec truncates the authtok to this

OP_KEYS = ("Action", "DBUser")
AUTH_KEYS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
             "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
OPTIONAL_KEYS = ("X-Amz-Security-Token",)


class Refused(Exception):
    pass


def _frozen_datetime(at):
    """A stand-in for the datetime module inside botocore.auth whose
    datetime.utcnow() returns `at`."""

    class FrozenDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return at

        @classmethod
        def now(cls, tz=None):
            return at if tz is None else at.replace(tzinfo=datetime.timezone.utc).astimezone(tz)

    ns = types.SimpleNamespace(**{k: getattr(datetime, k) for k in dir(datetime) if not k.startswith("__")})
    ns.datetime = FrozenDateTime
    return ns


def botocore_presign(host, port, user, region, access_key, secret, session_token, at, expires, op_params):
    """What botocore's generate_db_auth_token would produce for these inputs
    at time `at` (same request construction), via SigV4QueryAuth."""
    request = AWSRequest(method="GET", url=f"https://{host}:{port}/", data=dict(op_params))
    request.context = {}
    signer = botocore.auth.SigV4QueryAuth(
        Credentials(access_key, secret, session_token), "rds-db", region, expires=expires)
    with mock.patch.object(botocore.auth, "datetime", _frozen_datetime(at)):
        signer.add_auth(request)
    url = request.url
    assert url.startswith("https://")
    return url[len("https://"):]


def verify(token, host, port, user, region, secrets, skew=300, now=None):
    """Returns a short description on success, raises Refused(reason)."""
    if now is None:
        now = time.time()
    if not token:
        raise Refused("empty token")
    if any(ord(c) < 0x21 or ord(c) > 0x7e for c in token):
        raise Refused("token has characters outside printable ASCII")
    hostport, sep, query = token.partition("/?")
    if not sep:
        raise Refused("token is not HOST:PORT/?QUERY")
    if hostport.lower() != f"{host}:{port}".lower():
        raise Refused(f"token is for {hostport!r}, this server is {host}:{port}")

    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Refused("repeated query parameter")
    params = dict(pairs)
    missing = [k for k in OP_KEYS + AUTH_KEYS if k not in params]
    if missing:
        raise Refused(f"missing parameter(s) {','.join(missing)}")
    extra = [k for k in keys if k not in OP_KEYS + AUTH_KEYS + OPTIONAL_KEYS]
    if extra:
        raise Refused(f"unexpected parameter(s) {','.join(extra)}")

    if params["Action"] != "connect":
        raise Refused(f"Action is {params['Action']!r}, not 'connect'")
    if params["DBUser"] != user:
        raise Refused(f"DBUser is {params['DBUser']!r}, the login user is {user!r}")
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise Refused("X-Amz-Algorithm is not AWS4-HMAC-SHA256")
    if params["X-Amz-SignedHeaders"] != "host":
        raise Refused(f"X-Amz-SignedHeaders is {params['X-Amz-SignedHeaders']!r}, not 'host'")

    try:
        at = datetime.datetime.strptime(params["X-Amz-Date"], SIGV4_FMT)
    except ValueError:
        raise Refused("X-Amz-Date is not YYYYMMDDTHHMMSSZ")
    if at.strftime(SIGV4_FMT) != params["X-Amz-Date"]:
        raise Refused("X-Amz-Date is not canonical")
    try:
        expires = int(params["X-Amz-Expires"], 10)
    except ValueError:
        raise Refused("X-Amz-Expires is not an integer")
    if str(expires) != params["X-Amz-Expires"] or not 1 <= expires <= 900:
        raise Refused(f"X-Amz-Expires {params['X-Amz-Expires']!r} is not within 1..900")

    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5:
        raise Refused("X-Amz-Credential is not AKID/DATE/REGION/SERVICE/aws4_request")
    akid, sdate, sregion, sservice, sterm = scope
    if sdate != params["X-Amz-Date"][:8]:
        raise Refused("credential scope date differs from X-Amz-Date")
    if sregion != region:
        raise Refused(f"credential scope region is {sregion!r}, expected {region!r}")
    if sservice != "rds-db":
        raise Refused(f"credential scope service is {sservice!r}, expected 'rds-db'")
    if sterm != "aws4_request":
        raise Refused("credential scope does not end with aws4_request")

    signed_at = at.replace(tzinfo=datetime.timezone.utc).timestamp()
    if signed_at > now + skew:
        raise Refused(f"X-Amz-Date is {int(signed_at - now)} s in the future")
    if now >= signed_at + expires:
        raise Refused(f"token expired {int(now - signed_at - expires)} s ago")

    entry = secrets.get(akid)
    if entry is None:
        raise Refused(f"unknown access key id {akid!r}")
    token_st = params.get("X-Amz-Security-Token")
    want_st = entry.get("session_token")
    if want_st is not None:
        if token_st is None:
            raise Refused("access key needs a session token, the token has none")
        if not hmac.compare_digest(token_st.encode(), want_st.encode()):
            raise Refused("session token does not match the access key")
    elif token_st is not None:
        raise Refused("token carries a session token, the access key has none")

    expected = botocore_presign(host, port, user, region, akid, entry["secret"], token_st,
                                at, expires, [(k, params[k]) for k in keys if k in OP_KEYS])
    exp_params = dict(parse_qsl(expected.partition("/?")[2], keep_blank_values=True))
    # The signature covers the canonical (sorted) query, so the check does not
    # depend on parameter order; report separately whether the token is also
    # byte-identical to botocore's.
    if not hmac.compare_digest(exp_params["X-Amz-Signature"].encode(),
                               params["X-Amz-Signature"].encode()):
        raise Refused("signature mismatch")
    identical = hmac.compare_digest(expected.encode(), token.encode())
    return f"akid={akid} date={params['X-Amz-Date']} session_token={'yes' if token_st else 'no'} " \
           f"botocore_identical={'yes' if identical else 'no'}"


def load_secrets(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("secrets file is not a JSON object")
    return data


def log_line(path, msg):
    if not path:
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(f"{stamp} pid={os.getpid()} {msg}\n")
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Verify an RDS IAM auth token (test server side).")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--pam", action="store_true", help="pam_exec mode: token on stdin, user in $PAM_USER")
    mode.add_argument("--check", metavar="TOKEN", help="check TOKEN ('-' reads it from stdin)")
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--user", help="the login user (--check mode)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--secrets", required=True, help="JSON file: access key id -> {secret, session_token}")
    ap.add_argument("--log", help="append the outcome here")
    ap.add_argument("--skew", type=int, default=300, help="allowed clock skew for future-dated tokens (s)")
    ap.add_argument("--now", type=float, help="pretend the current time is this Unix time (tests)")
    args = ap.parse_args(argv)

    if args.pam:
        mode_name = "pam"
        user = os.environ.get("PAM_USER")
        if os.environ.get("PAM_TYPE", "auth") != "auth":
            log_line(args.log, f"mode=pam user={user!r} REFUSED: PAM_TYPE={os.environ.get('PAM_TYPE')!r}")
            return 1
        raw = sys.stdin.buffer.read(65536)
        token = raw.split(b"\0", 1)[0]
        truncated = len(token) >= PAM_MAX - 1
    else:
        mode_name = "check"
        user = args.user
        if user is None:
            ap.error("--check needs --user")
        raw = sys.stdin.buffer.read() if args.check == "-" else args.check.encode("utf-8", "surrogateescape")
        token = raw.rstrip(b"\r\n\0")
        truncated = False
    try:
        if not user:
            raise Refused("no user (PAM_USER unset)")
        try:
            token_s = token.decode("ascii")
        except UnicodeDecodeError:
            raise Refused("token is not ASCII")
        try:
            secrets = load_secrets(args.secrets)
        except (OSError, ValueError) as e:
            raise Refused(f"cannot read secrets file: {e.__class__.__name__}")
        info = verify(token_s, args.host, args.port, user, args.region, secrets, args.skew, args.now)
    except Refused as e:
        reason = str(e)
        if truncated:
            reason += f" (token length {len(token)}: pam_exec truncates the password to {PAM_MAX - 1} bytes;" \
                      " tokens with a session token are too long for this path, use --check)"
        log_line(args.log, f"mode={mode_name} user={user!r} len={len(token)} REFUSED: {reason}")
        if not args.pam:
            print(f"REFUSED: {reason}", file=sys.stderr)
        return 1
    except Exception as e:  # never leave a traceback with token material in the PAM log
        log_line(args.log, f"mode={mode_name} user={user!r} REFUSED: internal error {e.__class__.__name__}")
        if not args.pam:
            print(f"REFUSED: internal error {e.__class__.__name__}", file=sys.stderr)
        return 1
    log_line(args.log, f"mode={mode_name} user={user!r} len={len(token)} ACCEPTED: {info}")
    if not args.pam:
        print(f"OK: {info}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
