#!/usr/bin/python3
"""TAP test driver: starts a local HTTP and HTTPS server (a private CA made
with openssl, a certificate for "localhost" only) on 127.0.0.1, then runs
test_http against them and passes its TAP through.

usage: run_http.py TEST_HTTP"""
import hashlib
import http.server
import itertools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

TEST = sys.argv[1]
conn_ids = itertools.count(1)


def pattern(start, n):
    return bytes(((i * 7 + 3) % 251) for i in range(start, start + n))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.conn_id = next(conn_ids)

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        body = self.read_body()
        p = self.path
        if p.startswith("/status/"):
            code = int(p.split("/")[2])
            if code == 204:
                self.send_response(204)
                self.end_headers()
                return
            return self.reply(code, "status %d" % code, [("X-Test", "yes")])
        if p == "/headers":
            text = "".join("%s: %s\n" % (k.lower(), v) for k, v in self.headers.items())
            return self.reply(200, text)
        if p == "/sha256":
            return self.reply(200, "%s %d %s" % (self.command, len(body), hashlib.sha256(body).hexdigest()))
        if p.startswith("/big/"):
            n = int(p.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            off = 0
            while off < n:
                k = min(65536, n - off)
                self.wfile.write(pattern(off, k))
                off += k
            return
        if p == "/conn":
            return self.reply(200, str(self.conn_id))
        if p == "/slow":          # a byte every 0.3 s
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.3)
            return
        if p == "/stall":         # headers, then nothing
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(30)
            return
        self.reply(404, "not found")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                      # clients abort on purpose (caps, timeouts, cancellation)


def serve(ctx=None):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def main():
    tmp = tempfile.mkdtemp(prefix="bq-http-test-")
    try:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=bqlua test CA", cwd=tmp)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
                "-subj", "/CN=localhost", cwd=tmp)
        with open(os.path.join(tmp, "ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key"))

        plain = serve()
        tls = serve(ctx)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        s.close()
        env = dict(os.environ)
        env.pop("AWS_CA_BUNDLE", None)
        p = subprocess.run([TEST, "http://127.0.0.1:%d" % plain.server_address[1],
                            "https://localhost:%d" % tls.server_address[1],
                            "https://127.0.0.1:%d" % tls.server_address[1],
                            os.path.join(tmp, "ca.pem"), str(closed)],
                           env=env, capture_output=True, text=True, timeout=120)
        sys.stdout.write(p.stdout)
        if p.stderr:
            sys.stdout.write("".join("# " + l + "\n" for l in p.stderr.splitlines()))
        plain.shutdown()
        tls.shutdown()
        return p.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


sys.exit(main())
