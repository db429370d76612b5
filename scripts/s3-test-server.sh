#!/bin/bash
# Local S3-compatible server for bqlua's tests: s3rver 3.7.1 (the storage)
# behind tests/integration/s3server/front.py (verifies SigV4 like S3, adds
# AbortMultipartUpload / ListMultipartUploads, writes a JSON request log).
#
#   scripts/s3-test-server.sh start DIR [--bucket NAME]... [--faults FILE] [--tls]   # prints DIR/env
#   scripts/s3-test-server.sh stop DIR
#
# --tls: the front speaks HTTPS only, with a certificate for 127.0.0.1 from a
# private CA made here (DIR/tls/ca.pem: S3_CA_BUNDLE), as S3 itself would.
# --faults FILE: opt-in fault injection (503 SlowDown, 500, connection
# resets mid-body, truncated answers, lost answers, stalls, wrong-region
# redirects, seeded random mixes of them), JSON rules re-read whenever FILE
# changes; FILE need not exist yet. See "Fault injection" in
# tests/integration/s3server/front.py.
#
# DIR/env (sourceable KEY=value lines):
#   S3_ENDPOINT            http://127.0.0.1:PORT   the verifying front: use this
#                          (https:// with --tls)
#   S3_CA_BUNDLE           with --tls: the CA that signed the front's certificate
#   AWS_ENDPOINT_URL_S3    same as S3_ENDPOINT
#   S3_BACKEND_ENDPOINT    s3rver itself (no signature checks; for debugging)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY     long-term test key pair
#   S3_SESSION_ACCESS_KEY_ID / S3_SESSION_SECRET_ACCESS_KEY / S3_SESSION_TOKEN
#                          a temporary key pair that needs its session token
#   AWS_REGION / AWS_DEFAULT_REGION   us-east-1
#   S3_REQUEST_LOG         one JSON line per request the front answered
#   S3_CREDENTIALS_FILE    the keys the front accepts
#   S3_DATA_DIR            s3rver's data dir
#   S3_PIDS                PIDs started (comma separated)
#   S3_FAULTS              the --faults FILE (absolute), when given
#
# Everything listens on 127.0.0.1 on free ports and lives inside DIR
# (DIR/requests.jsonl, DIR/s3rver-data, DIR/credentials, logs, DIR/pids).
# The front accepts SigV4 only (header or presigned), path-style URLs only.
# Keys containing '//' (or '.'/'..' segments) cannot be stored by s3rver: the
# front checks their signature, then answers 501 NotImplemented.
# Only the /usr/bin tools are used (Debian's python3-botocore and awscli);
# as root on Debian, missing packages are installed with apt-get.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRV="$HERE/tests/integration/s3server"
PY=/usr/bin/python3
AWS=/usr/bin/aws
READY_TIMEOUT=${S3_TEST_SERVER_TIMEOUT:-60}

die() { echo "s3-test-server: $*" >&2; exit 1; }
# shellcheck source=scripts/test-tls.sh
. "$HERE/scripts/test-tls.sh"
usage() { echo "usage: $0 start DIR [--bucket NAME]... [--faults FILE] [--tls] | stop DIR" >&2; exit 2; }

ensure_packages() {
    local need=()
    [ -x "$PY" ] && "$PY" -c 'import botocore' 2>/dev/null || need+=(python3 python3-botocore)
    [ -x "$AWS" ] || need+=(awscli)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "s3-test-server: installing ${need[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    else
        die "missing: ${need[*]} (install them, e.g. apt-get install ${need[*]})"
    fi
}

ensure_node_modules() {
    [ -f "$SRV/node_modules/s3rver/package.json" ] && return 0
    # Tests start servers in parallel: one npm ci at a time, the others wait
    # for it and then find node_modules in place.
    (
        flock 9
        [ -f "$SRV/node_modules/s3rver/package.json" ] && exit 0
        echo "s3-test-server: npm ci in $SRV" >&2
        cd "$SRV" && { npm ci --no-audit --no-fund --loglevel=error ||
                       npm install --no-audit --no-fund --loglevel=error; } >&2
    ) 9>"$SRV/.npm.lock" || die "npm could not install s3rver"
}

# "quote" a value for a sourceable KEY=value line
envline() {
    local k=$1 v=$2
    if [[ $v =~ ^[A-Za-z0-9_./:,@+=%-]*$ ]]; then
        printf '%s=%s\n' "$k" "$v"
    else
        printf "%s='%s'\n" "$k" "${v//\'/\'\\\'\'}"
    fi
}

alive() { kill -0 "$1" 2>/dev/null; }


stop_pids() {
    local pid any
    for pid in "$@"; do
        if alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
    done
    for _ in $(seq 50); do
        any=0
        for pid in "$@"; do if alive "$pid"; then any=1; fi; done
        [ $any = 0 ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do
        if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    done
}

cmd_stop() {
    local dir=$1
    [ -f "$dir/pids" ] || { echo "s3-test-server: nothing started in $dir" >&2; return 0; }
    # shellcheck disable=SC2046
    stop_pids $(cat "$dir/pids")
    rm -f "$dir/pids"
}

cmd_start() {
    local dir=$1; shift
    local buckets=() faults="" tls=0
    while [ $# -gt 0 ]; do
        case $1 in
            --tls) tls=1; shift ;;
            --bucket) [ $# -ge 2 ] || usage; buckets+=("$2"); shift 2 ;;
            --bucket=*) buckets+=("${1#--bucket=}"); shift ;;
            --faults) [ $# -ge 2 ] || usage; faults=$2; shift 2 ;;
            --faults=*) faults=${1#--faults=}; shift ;;
            *) usage ;;
        esac
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local fault_args=()
    if [ -n "$faults" ]; then
        case $faults in /*) ;; *) faults="$PWD/$faults" ;; esac
        fault_args=(--faults "$faults")
    fi
    [ -f "$dir/pids" ] && die "$dir already has a running server (stop it first)"
    ensure_packages
    ensure_node_modules
    mkdir -p "$dir/s3rver-data" "$dir/spool"
    rm -f "$dir/front.port" "$dir/env"
    : > "$dir/requests.jsonl"
    local scheme=http tls_args=() ca=""
    if [ $tls = 1 ]; then
        gen_tls "$dir/tls"
        scheme=https ca="$dir/tls/ca.pem"
        tls_args=(--tls-cert "$dir/tls/server-cert.pem" --tls-key "$dir/tls/server-key.pem")
    fi

    # test credentials: a long-term pair and a temporary (session token) pair
    local ak=AKIDBQLUATEST sk sak=ASIABQLUATESTSESSION ssk tok
    sk=$("$PY" -c 'import secrets,string;a=string.ascii_letters+string.digits+"+/";print("".join(secrets.choice(a) for _ in range(40)))')
    ssk=$("$PY" -c 'import secrets,string;a=string.ascii_letters+string.digits+"+/";print("".join(secrets.choice(a) for _ in range(40)))')
    tok=$("$PY" -c 'import secrets,base64;print("IQoJb3JpZ2luX2VjE"+base64.b64encode(secrets.token_bytes(180)).decode())')
    umask 077
    printf '# ACCESS_KEY_ID SECRET_ACCESS_KEY [SESSION_TOKEN]\n%s %s\n%s %s %s\n' \
        "$ak" "$sk" "$sak" "$ssk" "$tok" > "$dir/credentials"
    umask 022

    local pids=()
    cleanup_fail() { stop_pids "${pids[@]}"; rm -f "$dir/pids"; }

    # s3rver: port 0, the real port is taken from its "listening" line. The
    # file exists before node starts: the background job's redirection may
    # not have created it yet when the loop below first reads it.
    : > "$dir/s3rver.out"
    node "$SRV/node_modules/s3rver/bin/s3rver.js" -d "$dir/s3rver-data" \
        -a 127.0.0.1 -p 0 --silent --no-vhost-buckets \
        > "$dir/s3rver.out" 2> "$dir/s3rver.err" < /dev/null &
    pids+=($!)
    printf '%s\n' "${pids[@]}" > "$dir/pids"
    local bport="" t0=$SECONDS
    while [ -z "$bport" ]; do
        bport=$(sed -n 's/^S3rver listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/s3rver.out" | head -n1) || bport=""
        [ -n "$bport" ] && break
        alive "${pids[0]}" || { cat "$dir/s3rver.err" >&2; cleanup_fail; die "s3rver exited"; }
        [ $((SECONDS - t0)) -ge "$READY_TIMEOUT" ] && { cleanup_fail; die "s3rver did not start in ${READY_TIMEOUT}s"; }
        sleep 0.1
    done

    "$PY" "$SRV/front.py" --port 0 --port-file "$dir/front.port" \
        --backend "127.0.0.1:$bport" --backend-dir "$dir/s3rver-data" \
        --credentials "$dir/credentials" --request-log "$dir/requests.jsonl" \
        --spool-dir "$dir/spool" "${fault_args[@]}" "${tls_args[@]}" \
        > "$dir/front.out" 2> "$dir/front.err" < /dev/null &
    pids+=($!)
    printf '%s\n' "${pids[@]}" > "$dir/pids"
    local fport=""
    while :; do
        [ -s "$dir/front.port" ] && fport=$(cat "$dir/front.port") && break
        alive "${pids[1]}" || { cat "$dir/front.err" >&2; cleanup_fail; die "front.py exited"; }
        [ $((SECONDS - t0)) -ge "$READY_TIMEOUT" ] && { cleanup_fail; die "front.py did not start in ${READY_TIMEOUT}s"; }
        sleep 0.1
    done

    # both answer HTTP (bounded)
    if ! "$PY" - "$bport" "$fport" "$READY_TIMEOUT" "$ca" <<'EOF'
import http.client, ssl, sys, time
deadline = time.time() + float(sys.argv[3])
for i, port in enumerate(map(int, sys.argv[1:3])):
    while True:
        try:
            if i == 1 and sys.argv[4]:
                ctx = ssl.create_default_context(cafile=sys.argv[4])
                c = http.client.HTTPSConnection('127.0.0.1', port, timeout=5, context=ctx)
            else:
                c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
            c.request('GET', '/')
            c.getresponse().read()
            c.close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit('port %d does not answer' % port)
            time.sleep(0.1)
EOF
    then
        cleanup_fail; die "servers did not answer"
    fi

    {
        echo "# written by scripts/s3-test-server.sh start; source it"
        envline S3_ENDPOINT "$scheme://127.0.0.1:$fport"
        envline AWS_ENDPOINT_URL_S3 "$scheme://127.0.0.1:$fport"
        envline S3_BACKEND_ENDPOINT "http://127.0.0.1:$bport"
        envline AWS_ACCESS_KEY_ID "$ak"
        envline AWS_SECRET_ACCESS_KEY "$sk"
        envline S3_SESSION_ACCESS_KEY_ID "$sak"
        envline S3_SESSION_SECRET_ACCESS_KEY "$ssk"
        envline S3_SESSION_TOKEN "$tok"
        envline AWS_REGION us-east-1
        envline AWS_DEFAULT_REGION us-east-1
        envline S3_REQUEST_LOG "$dir/requests.jsonl"
        envline S3_CREDENTIALS_FILE "$dir/credentials"
        envline S3_DATA_DIR "$dir/s3rver-data"
        envline S3_PIDS "$(IFS=,; echo "${pids[*]}")"
        if [ -n "$faults" ]; then envline S3_FAULTS "$faults"; fi
        if [ -n "$ca" ]; then envline S3_CA_BUNDLE "$ca"; fi
    } > "$dir/env.tmp"
    mv "$dir/env.tmp" "$dir/env"

    local b
    for b in "${buckets[@]}"; do
        if ! env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" \
                AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
                "$AWS" --endpoint-url "$scheme://127.0.0.1:$fport" ${ca:+--ca-bundle "$ca"} \
                s3api create-bucket --bucket "$b" >/dev/null; then
            cleanup_fail; die "could not create bucket $b"
        fi
    done
    cat "$dir/env"
}

[ $# -ge 2 ] || usage
case $1 in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop "$2" ;;
    *) usage ;;
esac
