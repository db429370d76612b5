#!/usr/bin/python3
"""TAP test: the credential chain against a local server playing the ECS
container endpoint and EC2 IMDSv2 (via AWS_EC2_METADATA_SERVICE_ENDPOINT).

usage: run_creds.py CREDS_TOOL
The server runs in this process on 127.0.0.1 (a free port); creds_tool is the
C driver. No output may contain a secret or a token."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402

TOOL = sys.argv[1]
AUTH_TOKEN = "tok-123-container-auth"
IMDS_TOKEN = "imds-session-token-abc"
SECRET_MARKERS = ["secret-for-", "token-for-", AUTH_TOKEN, IMDS_TOKEN]

lock = threading.Lock()
counts = {}          # path -> requests seen
unauthorized = {}    # path -> requests refused for a missing/wrong token


def creds(akid, seconds):
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
    return {"AccessKeyId": akid, "SecretAccessKey": "secret-for-" + akid,
            "Token": "token-for-" + akid, "Expiration": exp,
            "RoleArn": "arn:aws:iam::123456789012:role/bqlua"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def count(self):
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            return counts[self.path]

    def refuse(self, status):
        with lock:
            unauthorized[self.path] = unauthorized.get(self.path, 0) + 1
        self.reply(status, {"message": "unauthorized"})

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.count()
        if self.path.endswith("/latest/api/token"):
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "missing ttl", "text/plain")
            return self.reply(200, IMDS_TOKEN, "text/plain")
        self.reply(404, "no", "text/plain")

    def do_GET(self):
        n = self.count()
        p = self.path.split("?")[0]
        if p.startswith("/imds"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.refuse(401)
            base = "/latest/meta-data/iam/security-credentials/"
            rest = p[p.index("/latest"):] if "/latest" in p else ""
            if rest == base:
                if p.startswith("/imds-norole"):
                    return self.reply(404, "not found", "text/plain")
                return self.reply(200, "bqlua-role\n", "text/plain")
            if rest == base + "bqlua-role":
                d = creds("ASIAIMDS", 3600)
                d.update({"Code": "Success", "Type": "AWS-HMAC"})
                return self.reply(200, d)
            return self.reply(404, "not found", "text/plain")
        if p == "/ecs/good":
            return self.reply(200, creds("ASIAGOOD", 3600))
        if p == "/ecs/rotating":
            return self.reply(200, creds("ASIAROT%d" % n, 120))
        if p == "/ecs/flaky":
            if n <= 2:
                return self.reply(500, {"message": "try again"})
            return self.reply(200, creds("ASIAFLAKY", 3600))
        if p == "/ecs/always500":
            return self.reply(500, {"message": "down"})
        if p == "/ecs/malformed":
            return self.reply(200, '{"AccessKeyId": "ASIABAD", "SecretAccessKey": "secret-for-ASIABAD"')
        if p == "/ecs/notoken":
            d = creds("ASIANOTOK", 3600)
            del d["Token"]
            return self.reply(200, d)
        if p == "/ecs/auth":
            got = self.headers.get("Authorization")
            if got is None:
                return self.refuse(401)
            if got != AUTH_TOKEN:
                return self.refuse(403)
            return self.reply(200, creds("ASIAAUTH", 3600))
        self.reply(404, "not found", "text/plain")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
BASE = "http://127.0.0.1:%d" % server.server_address[1]

tmp = tempfile.mkdtemp(prefix="bq-creds-int-")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(extra_env, *args):
    env = {"PATH": "/usr/bin:/bin", "HOME": tmp,
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"),
           "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    env.update(extra_env)
    t0 = time.monotonic()
    p = subprocess.run([TOOL] + list(args), env=env, capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    ok(not any(m in out for m in SECRET_MARKERS), "no secret or token in the output (%s)" %
       " ".join(list(args) + ["%s=%s" % kv for kv in extra_env.items() if "URI" in kv[0] or "ENDPOINT" in kv[0]]), out)
    return p.returncode, out, time.monotonic() - t0


def full(path, **kw):
    d = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": BASE + path}
    d.update(kw)
    return d


# 1. Good credentials; a second get within their lifetime asks nobody.
rc, out, _ = run(full("/ecs/good"), "--gets", "2")
ok(rc == 0 and "get 1: source=container akid=ASIAGOOD secret_matches=yes token_matches=yes" in out,
   "container: good JSON gives the credentials", out)
ok("get 2: source=container akid=ASIAGOOD" in out, "container: the second get reuses them", out)
ok(counts.get("/ecs/good") == 1, "container: the server saw 1 request", counts)

# 2. Credentials expiring within min-valid are fetched again: new keys, 2 requests.
rc, out, _ = run(full("/ecs/rotating"), "--gets", "2", "--advance", "30", "--min-valid", "300")
ok(rc == 0 and "get 1: source=container akid=ASIAROT1 secret_matches=yes" in out, "refresh: first keys", out)
ok("get 2: source=container akid=ASIAROT2 secret_matches=yes token_matches=yes" in out,
   "refresh: the second get returns the NEW keys", out)
ok(counts.get("/ecs/rotating") == 2, "refresh: the server saw 2 requests", counts)

# 3. Concurrent first use: one fetch, every thread served.
rc, out, _ = run(full("/ecs/good?threads"), "--threads", "8", "--gets", "1")
ok(rc == 0 and "threads: 8 of 8 got credentials" in out, "threads: 8 concurrent gets succeed", out)
ok(counts.get("/ecs/good?threads") == 1, "threads: ...with a single fetch", counts)

# 4. 500s then success: the retry policy covers it.
rc, out, _ = run(full("/ecs/flaky"))
ok(rc == 0 and "akid=ASIAFLAKY secret_matches=yes" in out, "retry: two 500s then success", out)
ok(counts.get("/ecs/flaky") == 3, "retry: 3 requests", counts)
rc, out, _ = run(full("/ecs/always500"))
ok(rc == 1 and "kind=HttpError status=500" in out and "container credentials endpoint" in out,
   "retry: a lasting 500 is a clear error", out)
ok(counts.get("/ecs/always500") == 3, "retry: gave up after 3 attempts", counts)

# 5. Malformed answers.
rc, out, _ = run(full("/ecs/malformed"))
ok(rc == 1 and "ProtocolError" in out and "not a JSON object" in out, "malformed JSON is a clear error", out)
rc, out, _ = run(full("/ecs/notoken"))
ok(rc == 1 and "lacks Token" in out, "a response without Token is a clear error", out)

# 6. The authorization token: env, file, wrong, missing.
rc, out, _ = run(full("/ecs/auth", AWS_CONTAINER_AUTHORIZATION_TOKEN=AUTH_TOKEN))
ok(rc == 0 and "akid=ASIAAUTH" in out, "auth: the token from AWS_CONTAINER_AUTHORIZATION_TOKEN", out)
tokfile = os.path.join(tmp, "token")
with open(tokfile, "w") as f:
    f.write(AUTH_TOKEN + "\n")
rc, out, _ = run(full("/ecs/auth", AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tokfile,
                      AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong-env-token"))
ok(rc == 0 and "akid=ASIAAUTH" in out, "auth: the token file (trimmed) wins over the env", out)
rc, out, _ = run(full("/ecs/auth", AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong-token"))
ok(rc == 1 and "status=403" in out and "authorization token" in out, "auth: a wrong token gives a clear 403 error", out)
ok("wrong-token" not in out, "auth: ...that does not echo the token", out)
rc, out, _ = run(full("/ecs/auth"))
ok(rc == 1 and "status=401" in out, "auth: a missing token gives a clear 401 error", out)
ok(unauthorized.get("/ecs/auth") == 2, "auth: 401/403 were not retried", unauthorized)

# 7. FULL_URI over http to a host outside the allow-list: refused before any request.
rc, out, secs = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.10:80/creds"})
ok(rc == 1 and "plain http is allowed only" in out and secs < 2, "FULL_URI: http to a foreign host is refused", out)

# 8. IMDSv2: the token flow; the server refuses GETs without the session token.
imds = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": BASE + "/imds/"}
rc, out, _ = run(imds)
ok(rc == 0 and "get 1: source=imds akid=ASIAIMDS secret_matches=yes token_matches=yes" in out,
   "imds: credentials through the IMDSv2 token flow", out)
ok(counts.get("/imds/latest/api/token") == 1, "imds: one PUT for the session token", counts)
ok(not unauthorized.get("/imds/latest/meta-data/iam/security-credentials/")
   and not unauthorized.get("/imds/latest/meta-data/iam/security-credentials/bqlua-role"),
   "imds: every GET carried the session token", unauthorized)
try:
    urllib.request.urlopen(BASE + "/imds/latest/meta-data/iam/security-credentials/", timeout=5)
    ok(False, "imds: the test server refuses a GET without the token")
except urllib.error.HTTPError as e:
    ok(e.code == 401, "imds: the test server refuses a GET without the token")

rc, out, _ = run({"AWS_EC2_METADATA_DISABLED": "false",
                  "AWS_EC2_METADATA_SERVICE_ENDPOINT": BASE + "/imds-norole"})
ok(rc == 1 and "no IAM role" in out, "imds: no role attached is a clear error", out)

# 9. Nothing anywhere: IMDS on a closed port fails fast with the how-to message.
rc, out, secs = run({"AWS_EC2_METADATA_DISABLED": "false",
                     "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % free_port()})
ok(rc == 1 and "no AWS credentials found" in out and "AWS_ACCESS_KEY_ID" in out,
   "no source: the message says how to provide credentials", out)
ok(secs < 3, "no source: fails fast (%.2f s)" % secs)

# 10. Chain order: the environment wins; the container endpoint is not asked.
before = counts.get("/ecs/good", 0)
rc, out, _ = run(full("/ecs/good", AWS_ACCESS_KEY_ID="AKIAENV", AWS_SECRET_ACCESS_KEY="secret-for-AKIAENV",
                      AWS_SESSION_TOKEN="token-for-AKIAENV"))
ok(rc == 0 and "source=environment akid=AKIAENV secret_matches=yes" in out, "chain: the environment comes first", out)
ok(counts.get("/ecs/good", 0) == before, "chain: ...and the container endpoint is not asked", counts)

server.shutdown()
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(bqtest.done())
