#!/usr/bin/python3
"""TAP: scripts/run-task.sh driven by the real AWS CLI, task.id, and the
container configuration files.

Usage: run_deploy.py BQLUA

Starts the S3 test server (scripts/s3-test-server.sh) and a recording
stand-in for ECS, Batch and the ECS task metadata endpoint (fake_aws.py), all
on 127.0.0.1. Debian's /usr/bin/aws 2.9 ignores AWS_ENDPOINT_URL_ECS and
friends, so every request that reaches the stand-ins proves that run-task.sh
passed --endpoint-url itself. Asserts the uploads, the RunTask/SubmitJob
requests (command override, count, per-shard environment, network
configuration), --wait's exit codes, BQLUA_<NAME> defaults, usage errors;
then runs the uploaded task from S3 with bqlua under a fake metadata endpoint
(task.id, the start log line with the script's SHA-256); and validates
container/task-definition.json, container/iam/*.json (JSON) and
container/stack.yaml (YAML with CloudFormation's short-form tags).
Stops what it started.
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
import bqtest  # noqa: E402
from bqtest import ok  # noqa: E402
sys.path.insert(0, HERE)
from fake_aws import FakeAws  # noqa: E402

REPO = bqtest.REPO
RUN_TASK = os.path.join(REPO, "scripts", "run-task.sh")
AWS = "/usr/bin/aws"
BUCKET = "deploy-bucket"


def base_env(**extra):
    env = dict(HOME=TMP, AWS_CLI=AWS, AWS_ACCESS_KEY_ID=S3ENV["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=S3ENV["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.path.join(TMP, "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(TMP, "no-credentials"), AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true",
               AWS_ENDPOINT_URL_S3=S3ENV["S3_ENDPOINT"], AWS_ENDPOINT_URL_ECS=FAKE.url,
               AWS_ENDPOINT_URL_BATCH=FAKE.url, BQLUA_POLL="0.2")
    env.update(extra)
    return bqtest.clean_env(env, drop=("ECS_CONTAINER_METADATA_URI_V4",))


def run_task(args, timeout=180, **env):
    p = subprocess.run(["bash", RUN_TASK] + args, env=base_env(**env), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def s3_get(key):
    p = subprocess.run([AWS, "--endpoint-url", S3ENV["S3_ENDPOINT"], "s3", "cp", f"s3://{BUCKET}/{key}", "-"],
                       env=base_env(), capture_output=True, timeout=60)
    return p.stdout if p.returncode == 0 else None


def overrides(req):
    co = req["body"].get("overrides", {}).get("containerOverrides", [{}])[0]
    return co, {e["name"]: e["value"] for e in co.get("environment", [])}


def make_task_tree():
    d = os.path.join(TMP, "mytask")
    os.makedirs(os.path.join(d, "lib"))
    os.makedirs(os.path.join(d, ".hidden"))
    with open(os.path.join(d, "job.lua"), "w") as f:
        f.write('local util = require "lib.util"\n'
                'print("id=" .. tostring(task.id))\n'
                'print("shard=" .. task.shard.index .. "/" .. task.shard.count)\n'
                'print("args=" .. table.concat(task.args, "|"))\n'
                'print("util=" .. util.answer)\n')
    with open(os.path.join(d, "lib", "util.lua"), "w") as f:
        f.write("return { answer = 42 }\n")
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not lua\n")
    with open(os.path.join(d, ".hidden", "secret.lua"), "w") as f:
        f.write("return 1\n")
    return d


def test_ecs(task_dir):
    job = os.path.join(task_dir, "job.lua")
    # --- upload and start three shards -----------------------------------------------
    FAKE.take()
    rc, out, err = run_task(["--cluster", "c1", "--task-definition", "bqlua:3", "--subnets", "subnet-a,subnet-b",
                             "--security-groups", "sg-1", "--count", "3", job, f"s3://{BUCKET}/jobs/t1",
                             "arg1", 'arg "two" with\ttab', "--not-an-option"])
    ok(rc == 0, "run-task.sh --count 3 starts three shards", out + err)
    ok(s3_get("jobs/t1/job.lua") == open(job, "rb").read(), "TASK.lua is uploaded to the prefix")
    ok(s3_get("jobs/t1/lib/util.lua") == b"return { answer = 42 }\n",
       "sibling modules are uploaded under the prefix (lib/util.lua)")
    ok(s3_get("jobs/t1/notes.txt") is None and s3_get("jobs/t1/.hidden/secret.lua") is None,
       "only .lua files are uploaded, hidden folders are not")
    reqs = FAKE.take()
    runs = [r for r in reqs if r["target"] == "RunTask"]
    ok(len(runs) == 3 and all(r["signed"] for r in reqs),
       "the CLI sent three signed RunTask requests to the --endpoint-url (awscli 2.9 ignores AWS_ENDPOINT_URL_ECS)",
       [(r["target"], r["signed"]) for r in reqs])
    want_cmd = [f"s3://{BUCKET}/jobs/t1/job.lua", "arg1", 'arg "two" with\ttab', "--not-an-option"]
    cmds = [overrides(r)[0].get("command") for r in runs]
    ok(all(c == want_cmd for c in cmds), "the command override is s3://BUCKET/PREFIX/TASK.lua plus the arguments, verbatim",
       cmds)
    ok(all(overrides(r)[0].get("name") == "bqlua" for r in runs), "the override names the bqlua container")
    envs = sorted((overrides(r)[1] for r in runs), key=lambda e: e.get("BQLUA_SHARD_INDEX", ""))
    ok(envs == [{"BQLUA_SHARD_INDEX": str(i), "BQLUA_SHARD_COUNT": "3"} for i in range(3)],
       "each shard gets its own BQLUA_SHARD_INDEX and BQLUA_SHARD_COUNT=3", envs)
    b = runs[0]["body"] if runs else {}
    ok(all(r["body"].get("count") == 1 for r in runs) and b.get("cluster") == "c1"
       and b.get("taskDefinition") == "bqlua:3" and b.get("launchType") == "FARGATE",
       "each RunTask: count 1, the cluster, the task definition, launch type FARGATE", b)
    ok(b.get("networkConfiguration") == {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"],
                                                                 "securityGroups": ["sg-1"],
                                                                 "assignPublicIp": "DISABLED"}},
       "network configuration: subnets, security groups, no public IP", b.get("networkConfiguration"))
    ok(len(re.findall(r"^shard \d/3: arn:aws:ecs:", out, re.M)) == 3, "each started task ARN is printed", out)
    ok(not [r for r in reqs if r["target"] == "DescribeTasks"], "without --wait nothing is polled")

    # --- --wait: all succeed -------------------------------------------------------------
    FAKE.behaviour = {"exit_codes": {}, "polls_before_stop": 2}
    rc, out, err = run_task(["--cluster", "c1", "--subnets", "subnet-a", "--count", "2", "--wait", job,
                             f"s3://{BUCKET}/jobs/t2/"])
    reqs = FAKE.take()
    ok(rc == 0, "--wait exits 0 when every shard exits 0", out + err)
    ok(len(re.findall(r"^shard [01]: arn:\S+ exit 0 ", out, re.M)) == 2,
       "--wait prints each shard's exit code", out)
    ok(re.search(r"logs: CloudWatch /ecs/bqlua stream bqlua/bqlua/[0-9a-f]{32}", out),
       "--wait prints where each shard's logs are (awslogs group and stream)", out)
    ok(sum(r["target"] == "DescribeTasks" for r in reqs) >= 3,
       "--wait polls DescribeTasks until every task has stopped", [r["target"] for r in reqs])

    # --- --wait: one shard fails, one never ran ---------------------------------------------
    FAKE.behaviour = {"exit_codes": {1: 3}, "polls_before_stop": 1}
    rc, out, err = run_task(["--subnets", "subnet-a", "--count", "3", "--wait", job, f"s3://{BUCKET}/jobs/t3/"])
    FAKE.take()
    ok(rc != 0 and re.search(r"^shard 1: \S+ exit 3 ", out, re.M) and "1 of 3 shard(s) failed" in out,
       "--wait exits non-zero when a shard exits 3, and names it", out + err)
    FAKE.behaviour = {"exit_codes": {0: None}, "polls_before_stop": 0}
    rc, out, err = run_task(["--subnets", "subnet-a", "--wait", job, f"s3://{BUCKET}/jobs/t4/"])
    FAKE.take()
    ok(rc != 0 and re.search(r"exit - \(CannotPullContainerError", out),
       "--wait fails a task that stopped before its container ran (no exit code)", out + err)

    # --- BQLUA_<NAME> defaults --------------------------------------------------------------
    FAKE.behaviour = {"exit_codes": {}, "polls_before_stop": 0}
    rc, out, err = run_task([job, f"s3://{BUCKET}/jobs/t5/"], BQLUA_CLUSTER="env-cluster",
                            BQLUA_TASK_DEFINITION="env-td:7", BQLUA_SUBNETS="subnet-e1,subnet-e2",
                            BQLUA_SECURITY_GROUPS="sg-e", BQLUA_ASSIGN_PUBLIC_IP="1", BQLUA_COUNT="2",
                            BQLUA_WAIT="1")
    reqs = FAKE.take()
    runs = [r for r in reqs if r["target"] == "RunTask"]
    b = runs[0]["body"] if runs else {}
    ok(rc == 0 and len(runs) == 2 and b.get("cluster") == "env-cluster" and b.get("taskDefinition") == "env-td:7"
       and b["networkConfiguration"]["awsvpcConfiguration"] == {"subnets": ["subnet-e1", "subnet-e2"],
                                                                "securityGroups": ["sg-e"], "assignPublicIp": "ENABLED"}
       and any(r["target"] == "DescribeTasks" for r in reqs),
       "options default to BQLUA_CLUSTER, _TASK_DEFINITION, _SUBNETS, _SECURITY_GROUPS, _ASSIGN_PUBLIC_IP, _COUNT, _WAIT",
       (rc, out, err, b))

    # --- usage errors ------------------------------------------------------------------------
    for name, args in [("no subnets for a Fargate task", [job, f"s3://{BUCKET}/x/"]),
                       ("--count 0", ["--subnets", "s", "--count", "0", job, f"s3://{BUCKET}/x/"]),
                       ("a destination that is not s3://", ["--subnets", "s", job, "/tmp/x"]),
                       ("a task that does not exist", ["--subnets", "s", "/nonexistent.lua", f"s3://{BUCKET}/x/"]),
                       ("an unknown option", ["--bogus", job, f"s3://{BUCKET}/x/"]),
                       ("--batch without a job queue", ["--batch", "--job-definition", "d", job, f"s3://{BUCKET}/x/"])]:
        rc, out, err = run_task(args)
        ok(rc == 2 and "run-task:" in err, f"usage error exits 2: {name}", (rc, err))
    ok(not FAKE.take(), "usage errors start nothing")


def test_batch(task_dir):
    job = os.path.join(task_dir, "job.lua")
    FAKE.behaviour = {"exit_codes": {}, "polls_before_stop": 1}
    rc, out, err = run_task(["--batch", "--job-queue", "q1", "--job-definition", "bqlua-jd:2", "--count", "4",
                             "--wait", job, f"s3://{BUCKET}/jobs/b1/", "x", "y z"])
    reqs = FAKE.take()
    subs = [r for r in reqs if r["path"].rstrip("/") == "/v1/submitjob"]
    b = subs[0]["body"] if subs else {}
    ok(rc == 0 and len(subs) == 1, "--batch submits one job", out + err)
    ok(b.get("jobQueue") == "q1" and b.get("jobDefinition") == "bqlua-jd:2"
       and b.get("arrayProperties") == {"size": 4}, "an array job of size --count on the queue and definition", b)
    ok(b.get("containerOverrides", {}).get("command") == [f"s3://{BUCKET}/jobs/b1/job.lua", "x", "y z"],
       "the Batch command override is the script URI plus the arguments", b)
    ok(not any(e["name"].startswith("AWS_BATCH_") for e in b.get("containerOverrides", {}).get("environment", [])),
       "no AWS_BATCH_* override (a reserved prefix: Batch sets the array index and size itself)", b)
    ok(all(r["signed"] for r in reqs) and any(r["path"].rstrip("/") == "/v1/describejobs" for r in reqs),
       "--wait polls DescribeJobs (signed, through --endpoint-url)")
    ok(len(re.findall(r"^shard [0-3]: job \S+:[0-3] SUCCEEDED exit 0", out, re.M)) == 4,
       "--batch --wait prints each child's exit code", out)
    FAKE.behaviour = {"exit_codes": {2: 1}, "polls_before_stop": 0}
    rc, out, err = run_task(["--batch", "--count", "3", "--wait", job, f"s3://{BUCKET}/jobs/b2/"],
                            BQLUA_JOB_QUEUE="q2", BQLUA_JOB_DEFINITION="jd2")
    reqs = FAKE.take()
    subs = [r for r in reqs if r["path"].rstrip("/") == "/v1/submitjob"]
    ok(rc != 0 and re.search(r"^shard 2: job \S+ FAILED exit 1", out, re.M) and subs
       and subs[0]["body"].get("jobQueue") == "q2",
       "--batch --wait exits non-zero when a child fails (queue and definition from BQLUA_JOB_*)", out + err)


def test_task_id(bqlua):
    key = "jobs/t1/job.lua"
    src = s3_get(key) or b""
    sha = hashlib.sha256(src).hexdigest()
    common = dict(AWS_ENDPOINT_URL_S3=S3ENV["S3_ENDPOINT"], BQLUA_SHARD_INDEX="1", BQLUA_SHARD_COUNT="3")
    env = base_env(ECS_CONTAINER_METADATA_URI_V4=FAKE.url + "/v4/abc-123", **common)
    hits = FAKE.metadata_hits
    p = subprocess.run([bqlua, f"s3://{BUCKET}/{key}", "a", "b"], env=env, capture_output=True, text=True, timeout=60)
    arn = "arn:aws:ecs:us-east-1:123456789012:task/bqlua/0123456789abcdef0"
    ok(p.returncode == 0 and f"id={arn}\n" in p.stdout, "task.id is the TaskARN from ${ECS_CONTAINER_METADATA_URI_V4}/task",
       p.stdout + p.stderr)
    ok("shard=1/3\n" in p.stdout and "args=a|b\n" in p.stdout and "util=42\n" in p.stdout,
       "the uploaded task runs from S3: shard, arguments, sibling module", p.stdout + p.stderr)
    ok(FAKE.metadata_hits - hits == 1, "the metadata endpoint is asked once", FAKE.metadata_hits - hits)
    starts = [l for l in p.stderr.splitlines() if "sha256=" in l]
    ok(len(starts) == 1 and f"s3://{BUCKET}/{key}" in starts[0] and f"sha256={sha}" in starts[0]
       and f"task={arn}" in starts[0],
       "one start line names the script's URI, its SHA-256 and the task ARN", p.stderr)
    p = subprocess.run([bqlua, "--log-format", "json", f"s3://{BUCKET}/{key}"], env=env, capture_output=True,
                       text=True, timeout=60)
    lines = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    ok(any(sha in json.dumps(l) and arn in json.dumps(l) for l in lines), "the start line is one JSON object with --log-format json",
       p.stderr)
    env = base_env(**common)
    hits = FAKE.metadata_hits
    p = subprocess.run([bqlua, f"s3://{BUCKET}/{key}"], env=env, capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0 and "id=nil\n" in p.stdout and "task=-" in p.stderr and FAKE.metadata_hits == hits,
       "without ECS_CONTAINER_METADATA_URI_V4: task.id is nil and no request is made", p.stdout + p.stderr)
    env = base_env(ECS_CONTAINER_METADATA_URI_V4="http://127.0.0.1:9/v4/x", **common)
    t0 = time.monotonic()
    p = subprocess.run([bqlua, f"s3://{BUCKET}/{key}"], env=env, capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0 and "id=nil\n" in p.stdout and "task.id:" in p.stderr and time.monotonic() - t0 < 10,
       "an unreachable metadata endpoint: task.id is nil, a warning, the script still runs", p.stdout + p.stderr)
    local = os.path.join(TMP, "local.lua")
    with open(local, "w") as f:
        f.write("print(task.id)\n")
    p = subprocess.run([bqlua, local], env=base_env(), capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0 and p.stderr == "", "a local run outside ECS logs nothing at the default level", p.stderr)
    p = subprocess.run([bqlua, "-v", local], env=base_env(), capture_output=True, text=True, timeout=60)
    want = hashlib.sha256(b"print(task.id)\n").hexdigest()
    ok(f"sha256={want}" in p.stderr, "with -v a local run logs its start line too", p.stderr)


def test_config_files():
    try:
        import yaml
    except ImportError:     # Debian's python3-yaml, through the scripts' installer
        subprocess.run(["bash", "-c", f'. "{REPO}/scripts/deps.sh" && bq_require_packages python3-yaml'],
                       timeout=600)
        import yaml

    cont = os.path.join(REPO, "container")
    with open(os.path.join(cont, "task-definition.json")) as f:
        td = json.load(f)
    c = td["containerDefinitions"][0]
    ok(td["requiresCompatibilities"] == ["FARGATE"] and td["networkMode"] == "awsvpc" and td["cpu"] == "256"
       and td["memory"] == "512", "task-definition.json: Fargate, awsvpc, 0.25 vCPU, 0.5 GB")
    ok(c["logConfiguration"]["logDriver"] == "awslogs" and c["stopTimeout"] >= 60 and c["stopTimeout"] <= 120
       and c["name"] == "bqlua" and c["essential"],
       "task-definition.json: awslogs, a generous stopTimeout (Fargate's maximum is 120 s)", c)
    ok(td["taskRoleArn"].endswith("/bqlua-task-role") and td["executionRoleArn"].endswith("/bqlua-execution-role"),
       "task-definition.json: the task role and the execution role")
    pols = {}
    for p in sorted(glob.glob(os.path.join(cont, "iam", "*.json"))):
        with open(p) as f:
            pols[os.path.basename(p)] = json.load(f)
    ok({"task-role-policy.json", "execution-role-policy.json", "task-role-trust.json",
        "execution-role-trust.json"} <= set(pols), "container/iam/ holds the role policies and trust policies", list(pols))
    task = pols.get("task-role-policy.json", {"Statement": []})["Statement"]
    by = {s["Sid"]: s for s in task}
    acts = [a for s in task for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    ok(not any("*" in a for a in acts) and all(s["Effect"] == "Allow" for s in task),
       "task role: no wildcard actions", acts)
    ok(by.get("ReadTaskScripts", {}).get("Resource", "").endswith("/scripts/*")
       and "s3:PutObject" not in by.get("ReadTaskScripts", {}).get("Action", [])
       and "s3:AbortMultipartUpload" in by.get("WriteExports", {}).get("Action", [])
       and by.get("WriteExports", {}).get("Resource", "").endswith("/output/*")
       and by.get("ListTheBucket", {}).get("Action", []) and "s3:ListBucket" in by["ListTheBucket"]["Action"]
       and re.search(r":dbuser:[^/*]+/[^/*]+$", by.get("ConnectAsOneDbUser", {}).get("Resource", "")),
       "task role: read the script prefix, write/abort multipart on the output prefix, list, rds-db:connect for one user",
       json.dumps(task, indent=1))
    ex = pols.get("execution-role-policy.json", {"Statement": []})["Statement"]
    ok({a for s in ex for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
       == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
           "ecr:GetAuthorizationToken", "logs:CreateLogStream", "logs:PutLogEvents"},
       "execution role: pull the image and write logs, nothing else", ex)

    # CloudFormation's short forms (!Ref, !Sub, !GetAtt, ...) as plain data
    class Loader(yaml.SafeLoader):
        pass

    def multi(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            v = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)
        name = "Ref" if suffix == "Ref" else "Fn::" + suffix
        if suffix == "GetAtt" and isinstance(v, str):
            v = v.split(".", 1)
        return {name: v}

    Loader.add_multi_constructor("!", multi)
    try:
        with open(os.path.join(cont, "stack.yaml")) as f:
            st = yaml.load(f, Loader=Loader)
        err = None
    except yaml.YAMLError as e:
        st, err = {}, e
    ok(err is None and st.get("AWSTemplateFormatVersion") == "2010-09-09", "stack.yaml is valid YAML (CloudFormation tags)",
       err)
    res = st.get("Resources", {})
    types = sorted(r["Type"] for r in res.values())
    ok({"AWS::S3::Bucket", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition"} <= set(types) and types.count("AWS::IAM::Role") == 2,
       "stack.yaml creates the bucket, two roles, the log group, the cluster and the task definition", types)
    params = set(st.get("Parameters", {}))
    refs = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "Ref" and isinstance(v, str):
                    refs.add(v)
                elif k == "Fn::GetAtt":
                    refs.add(v[0])
                elif k == "Fn::Sub":
                    s = v if isinstance(v, str) else v[0]
                    refs.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", s))
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(res)
    walk(st.get("Outputs", {}))
    dangling = {r for r in refs if not r.startswith("AWS::")} - params - set(res)
    ok(not dangling, "stack.yaml: every !Ref/!GetAtt/!Sub name is a parameter or a resource", dangling)
    tdp = res.get("TaskDefinition", {}).get("Properties", {})
    cdef = (tdp.get("ContainerDefinitions") or [{}])[0]
    ok(tdp.get("Cpu") == "256" and tdp.get("Memory") == "512" and cdef.get("StopTimeout") == c["stopTimeout"]
       and cdef.get("LogConfiguration", {}).get("LogDriver") == "awslogs",
       "stack.yaml's task definition matches task-definition.json (size, stopTimeout, awslogs)", tdp)


def main():
    global TMP, S3ENV, FAKE
    bqlua, = bqtest.args("BQLUA")
    TMP = tempfile.mkdtemp(prefix="bqlua-deploy-")
    FAKE = FakeAws().start()
    try:
        S3ENV = (bqtest.start_server(bqtest.S3_SERVER, os.path.join(TMP, "s3srv"), "--bucket", BUCKET)
                 or bqtest.bail("the S3 test server did not start"))
        task_dir = make_task_tree()
        test_ecs(task_dir)
        test_batch(task_dir)
        test_task_id(bqlua)
        test_config_files()
    finally:
        FAKE.stop()
        bqtest.cleanup(TMP)
    return bqtest.done()


if __name__ == "__main__":
    sys.exit(main())
