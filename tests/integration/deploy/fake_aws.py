"""A recording stand-in for the ECS and AWS Batch APIs (and the ECS task
metadata endpoint) on 127.0.0.1, for tests that drive the real AWS CLI.

ECS speaks JSON 1.1 (POST /, X-Amz-Target: AmazonEC2ContainerServiceV20141113.X);
Batch speaks REST-JSON (POST /v1/submitjob, /v1/describejobs). Every request is
recorded (target, path, JSON body, whether it carried a SigV4 Authorization
header). GET /v4/<id>/task answers like the ECS agent's metadata endpoint.

Behaviour (FakeAws.behaviour, changeable between runs):
  exit_codes: {shard index: exit code}   (missing: 0; None: the task stopped
              before its container ran, so no exit code)
  polls_before_stop: describe calls that still see RUNNING
"""

import http.server
import json
import threading
import uuid

ACCOUNT = "123456789012"
REGION = "us-east-1"


class FakeAws:
    def __init__(self):
        self.requests = []
        self.behaviour = {"exit_codes": {}, "polls_before_stop": 1}
        self.tasks = {}          # arn -> {"shard":, "polls":}
        self.jobs = {}           # job id -> {"size":, "polls":, "name":}
        self.metadata_hits = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, doc, ctype="application/x-amz-json-1.1"):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/v4/") and self.path.endswith("/task"):
                    with fake.lock:
                        fake.metadata_hits += 1
                    return self.reply(200, {"Cluster": "bqlua", "TaskARN":
                                            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/bqlua/0123456789abcdef0",
                                            "Family": "bqlua", "Revision": "3"}, "application/json")
                self.reply(404, {"message": "not found"}, "application/json")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("latin-1")}
                target = self.headers.get("X-Amz-Target", "")
                auth = self.headers.get("Authorization", "")
                with fake.lock:
                    fake.requests.append({"target": target.rsplit(".", 1)[-1] or self.path, "path": self.path,
                                          "body": body, "signed": auth.startswith("AWS4-HMAC-SHA256 ")})
                    status, doc = fake.answer(target, self.path, body)
                self.reply(status, doc, "application/x-amz-json-1.1" if target else "application/json")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def take(self, kind=None):
        with self.lock:
            got = [r for r in self.requests if kind is None or r["target"] == kind]
            self.requests = [r for r in self.requests if not (kind is None or r["target"] == kind)]
        return got

    def exit_code(self, shard):
        return self.behaviour["exit_codes"].get(shard, self.behaviour["exit_codes"].get(str(shard), 0))

    # --- the APIs ---------------------------------------------------------------------
    def answer(self, target, path, body):
        op = target.rsplit(".", 1)[-1]
        if op == "RunTask":
            env = {}
            for co in body.get("overrides", {}).get("containerOverrides", []):
                env.update({e["name"]: e["value"] for e in co.get("environment", [])})
            shard = int(env.get("BQLUA_SHARD_INDEX", "0"))
            cluster = body.get("cluster", "default")
            arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{uuid.uuid4().hex}"
            self.tasks[arn] = {"shard": shard, "polls": 0}
            return 200, {"tasks": [{"taskArn": arn, "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
                                    "lastStatus": "PROVISIONING", "desiredStatus": "RUNNING",
                                    "launchType": "FARGATE", "containers": [{"name": "bqlua"}]}],
                         "failures": []}
        if op == "DescribeTasks":
            out, failures = [], []
            for arn in body.get("tasks", []):
                t = self.tasks.get(arn)
                if not t:
                    failures.append({"arn": arn, "reason": "MISSING"})
                    continue
                t["polls"] += 1
                task = {"taskArn": arn, "desiredStatus": "STOPPED", "containers": [{"name": "sidecar", "exitCode": 0}]}
                if t["polls"] <= self.behaviour["polls_before_stop"]:
                    task.update(lastStatus="RUNNING", desiredStatus="RUNNING")
                    task["containers"].append({"name": "bqlua", "lastStatus": "RUNNING"})
                else:
                    code = self.exit_code(t["shard"])
                    c = {"name": "bqlua", "lastStatus": "STOPPED"}
                    if code is None:
                        task["stoppedReason"] = "CannotPullContainerError: pull access denied"
                    else:
                        c["exitCode"] = code
                        task["stoppedReason"] = "Essential container in task exited"
                    task["lastStatus"] = "STOPPED"
                    task["containers"].append(c)
                out.append(task)
            return 200, {"tasks": out, "failures": failures}
        if op == "DescribeTaskDefinition":
            return 200, {"taskDefinition": {
                "family": "bqlua", "revision": 3,
                "containerDefinitions": [{"name": "bqlua", "image": "bqlua", "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/bqlua", "awslogs-region": REGION,
                                "awslogs-stream-prefix": "bqlua"}}}]}}
        if path.rstrip("/") == "/v1/submitjob":
            jid = str(uuid.uuid4())
            size = body.get("arrayProperties", {}).get("size", 0)
            self.jobs[jid] = {"size": size, "polls": 0, "name": body.get("jobName", "")}
            return 200, {"jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{jid}", "jobName": body.get("jobName"),
                         "jobId": jid}
        if path.rstrip("/") == "/v1/describejobs":
            out = []
            for ref in body.get("jobs", []):
                jid, _, idx = ref.partition(":")
                j = self.jobs.get(jid)
                if not j:
                    continue
                base = {"jobId": ref, "jobName": j["name"], "jobQueue": "q", "jobDefinition": "d", "startedAt": 1}
                if not idx:
                    j["polls"] += 1
                    if j["polls"] <= self.behaviour["polls_before_stop"]:
                        base["status"] = "RUNNING"
                    else:
                        shards = range(j["size"]) if j["size"] else [0]
                        bad = any(self.exit_code(i) != 0 for i in shards)
                        base["status"] = "FAILED" if bad else "SUCCEEDED"
                    if j["size"]:
                        base["arrayProperties"] = {"size": j["size"]}
                    else:
                        base["container"] = {"exitCode": self.exit_code(0), "logStreamName": f"d/default/{jid}"}
                else:
                    code = self.exit_code(int(idx))
                    base["status"] = "SUCCEEDED" if code == 0 else "FAILED"
                    base["container"] = {"logStreamName": f"d/default/{jid}-{idx}"}
                    if code is not None:
                        base["container"]["exitCode"] = code
                    base["arrayProperties"] = {"index": int(idx)}
                out.append(base)
            return 200, {"jobs": out}
        return 400, {"__type": "InvalidAction", "message": f"unknown {target or path}"}
