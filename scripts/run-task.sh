#!/usr/bin/env bash
# Upload a bqlua task to S3 and run it on Fargate (or as an AWS Batch array job).
#
#   scripts/run-task.sh [OPTIONS] TASK.lua s3://BUCKET/PREFIX/ [ARG...]
#
# Uploads TASK.lua and the .lua modules in its folder tree to the prefix (so
# that `require "lib.util"` finds s3://BUCKET/PREFIX/lib/util.lua), then starts
# the task with the container command `s3://BUCKET/PREFIX/TASK.lua ARG...`.
#
# Options (each also read from BQLUA_<NAME>, e.g. BQLUA_CLUSTER, BQLUA_SUBNETS):
#   --cluster NAME             ECS cluster (default: bqlua)
#   --task-definition FAMILY   task definition, family[:revision] or ARN (default: bqlua)
#   --container NAME           container to override (default: bqlua)
#   --subnets ID,ID            awsvpc subnets (required for ECS)
#   --security-groups ID,ID    awsvpc security groups
#   --assign-public-ip         give the task a public IP (public subnets without NAT)
#   --count N                  N shards, each with BQLUA_SHARD_INDEX=i, BQLUA_SHARD_COUNT=N (default 1)
#   --wait                     wait until every task stops; print exit codes and log
#                              locations; exit 1 if any shard failed
#   --poll SECONDS             --wait's polling interval (default 10)
#   --batch                    submit an AWS Batch job instead (an array job when N > 1;
#                              Batch sets AWS_BATCH_JOB_ARRAY_INDEX/_SIZE, which bqlua reads)
#   --job-queue Q, --job-definition D   for --batch
#   -h, --help
# Boolean options read BQLUA_WAIT=1, BQLUA_BATCH=1, BQLUA_ASSIGN_PUBLIC_IP=1.
#
# AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_ECS and AWS_ENDPOINT_URL_BATCH (else
# AWS_ENDPOINT_URL) are passed to the AWS CLI as --endpoint-url, since older
# CLIs (awscli < 2.13) ignore them. AWS_CLI (default: aws) names the CLI.
#
# Exit status: 0 started (or, with --wait, every shard exited 0); 1 an AWS
# call failed or, with --wait, a shard failed; 2 usage error.
set -euo pipefail

AWS=${AWS_CLI:-aws}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "run-task: $*" >&2; exit 1; }
usage_error() { echo "run-task: $*" >&2; echo "usage: run-task.sh [OPTIONS] TASK.lua s3://BUCKET/PREFIX/ [ARG...] (--help)" >&2; exit 2; }

bool() { case "${1:-}" in 1|true|yes|on) echo 1 ;; *) echo 0 ;; esac; }

CLUSTER=${BQLUA_CLUSTER:-bqlua}
TASK_DEFINITION=${BQLUA_TASK_DEFINITION:-bqlua}
CONTAINER=${BQLUA_CONTAINER:-bqlua}
SUBNETS=${BQLUA_SUBNETS:-}
SECURITY_GROUPS=${BQLUA_SECURITY_GROUPS:-}
ASSIGN_PUBLIC_IP=$(bool "${BQLUA_ASSIGN_PUBLIC_IP:-}")
COUNT=${BQLUA_COUNT:-1}
WAIT=$(bool "${BQLUA_WAIT:-}")
POLL=${BQLUA_POLL:-10}
BATCH=$(bool "${BQLUA_BATCH:-}")
JOB_QUEUE=${BQLUA_JOB_QUEUE:-}
JOB_DEFINITION=${BQLUA_JOB_DEFINITION:-}

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cluster) need_value "$@"; CLUSTER=$2; shift 2 ;;
        --task-definition) need_value "$@"; TASK_DEFINITION=$2; shift 2 ;;
        --container) need_value "$@"; CONTAINER=$2; shift 2 ;;
        --subnets) need_value "$@"; SUBNETS=$2; shift 2 ;;
        --security-groups) need_value "$@"; SECURITY_GROUPS=$2; shift 2 ;;
        --assign-public-ip) ASSIGN_PUBLIC_IP=1; shift ;;
        --count) need_value "$@"; COUNT=$2; shift 2 ;;
        --wait) WAIT=1; shift ;;
        --poll) need_value "$@"; POLL=$2; shift 2 ;;
        --batch) BATCH=1; shift ;;
        --job-queue) need_value "$@"; JOB_QUEUE=$2; shift 2 ;;
        --job-definition) need_value "$@"; JOB_DEFINITION=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage_error "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || usage_error "TASK.lua and s3://BUCKET/PREFIX/ are required"
TASK=$1 DEST=$2
shift 2
ARGS=("$@")

[ -f "$TASK" ] || usage_error "$TASK: no such file"
case "$TASK" in *.lua) ;; *) usage_error "$TASK: expected a .lua file" ;; esac
[[ "$DEST" =~ ^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$ ]] || usage_error "$DEST: expected s3://BUCKET/PREFIX/"
BUCKET=${BASH_REMATCH[1]}
PREFIX=${BASH_REMATCH[2]#/}
[ -z "$PREFIX" ] || [[ "$PREFIX" == */ ]] || PREFIX="$PREFIX/"
[[ "$COUNT" =~ ^[1-9][0-9]{0,4}$ ]] && [ "$COUNT" -le 10000 ] || usage_error "--count: expected 1 to 10000"
[[ "$POLL" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "--poll: expected seconds"
if [ "$BATCH" = 1 ]; then
    [ -n "$JOB_QUEUE" ] || usage_error "--batch needs --job-queue (or BQLUA_JOB_QUEUE)"
    [ -n "$JOB_DEFINITION" ] || usage_error "--batch needs --job-definition (or BQLUA_JOB_DEFINITION)"
else
    [ -n "$SUBNETS" ] || usage_error "--subnets (or BQLUA_SUBNETS) is required for a Fargate task"
fi

# --endpoint-url for one service: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL.
endpoint_args() {
    local var="AWS_ENDPOINT_URL_$1" url
    url=${!var:-${AWS_ENDPOINT_URL:-}}
    [ -z "$url" ] || printf '%s\n' --endpoint-url "$url"
}
mapfile -t S3_EP < <(endpoint_args S3)
mapfile -t ECS_EP < <(endpoint_args ECS)
mapfile -t BATCH_EP < <(endpoint_args BATCH)

# JSON string literal (the CLI takes overrides as JSON; no jq needed).
json_str() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
            '"') out+='\"' ;;
            '\') out+='\\' ;;
            $'\n') out+='\n' ;;
            $'\r') out+='\r' ;;
            $'\t') out+='\t' ;;
            [[:cntrl:]]) out+=$(printf '\\u%04x' "'$c") ;;
            *) out+=$c ;;
        esac
    done
    printf '"%s"' "$out"
}
json_list() {   # json_list a,b,c -> ["a","b","c"]
    local IFS=, out="" x
    for x in $1; do [ -z "$x" ] || out+="${out:+,}$(json_str "$x")"; done
    printf '[%s]' "$out"
}

# --- upload ---------------------------------------------------------------------------
TASK_DIR=$(cd "$(dirname "$TASK")" && pwd)
TASK_NAME=$(basename "$TASK")
SCRIPT_URI="s3://$BUCKET/$PREFIX$TASK_NAME"
n=0
while IFS= read -r -d '' f; do
    rel=${f#"$TASK_DIR"/}
    "$AWS" "${S3_EP[@]}" s3 cp --only-show-errors "$f" "s3://$BUCKET/$PREFIX$rel" ||
        die "upload of $rel failed"
    n=$((n + 1))
done < <(find "$TASK_DIR" -type f -name '*.lua' -not -path '*/.*' -print0 | sort -z)
echo "uploaded $n .lua file(s) to s3://$BUCKET/$PREFIX" >&2

command_json="[$(json_str "$SCRIPT_URI")"
for a in ${ARGS[@]+"${ARGS[@]}"}; do command_json+=",$(json_str "$a")"; done
command_json+="]"

# --- AWS Batch ----------------------------------------------------------------------------
if [ "$BATCH" = 1 ]; then
    job_name=$(printf 'bqlua-%s' "${TASK_NAME%.lua}" | tr -c 'A-Za-z0-9_-' '-' | cut -c1-128)
    array=()
    [ "$COUNT" -le 1 ] || array=(--array-properties "size=$COUNT")
    job_id=$("$AWS" "${BATCH_EP[@]}" batch submit-job --job-name "$job_name" --job-queue "$JOB_QUEUE" \
                 --job-definition "$JOB_DEFINITION" ${array[@]+"${array[@]}"} \
                 --container-overrides "{\"command\":$command_json}" \
                 --query jobId --output text) || die "batch submit-job failed"
    echo "submitted $job_name: $job_id ($COUNT shard(s)) running $SCRIPT_URI"
    [ "$WAIT" = 1 ] || exit 0
    while :; do
        status=$("$AWS" "${BATCH_EP[@]}" batch describe-jobs --jobs "$job_id" --query 'jobs[0].status' \
                     --output text) || die "batch describe-jobs failed"
        case "$status" in SUCCEEDED|FAILED) break ;; esac
        sleep "$POLL"
    done
    ids=()
    if [ "$COUNT" -le 1 ]; then ids=("$job_id"); else for ((i = 0; i < COUNT; i++)); do ids+=("$job_id:$i"); done; fi
    failed=0
    for ((s = 0; s < ${#ids[@]}; s += 100)); do
        while IFS=$'\t' read -r jid st code reason stream; do
            idx=${jid##*:}; [ "$COUNT" -le 1 ] && idx=0
            [ "$code" = None ] && code="-"
            echo "shard $idx: job $jid $st exit $code${reason:+ ($reason)}; logs: CloudWatch /aws/batch/job stream $stream"
            [ "$st" = SUCCEEDED ] && [ "$code" = 0 ] || failed=$((failed + 1))
        done < <("$AWS" "${BATCH_EP[@]}" batch describe-jobs --jobs "${ids[@]:s:100}" --output text \
                     --query 'jobs[].[jobId, status, container.exitCode, statusReason, container.logStreamName]')
    done
    echo "$job_id: $status, $failed of $COUNT shard(s) failed"
    [ "$failed" = 0 ] && [ "$status" = SUCCEEDED ]
    exit $?
fi

# --- ECS / Fargate ---------------------------------------------------------------------------
network="{\"awsvpcConfiguration\":{\"subnets\":$(json_list "$SUBNETS")"
[ -z "$SECURITY_GROUPS" ] || network+=",\"securityGroups\":$(json_list "$SECURITY_GROUPS")"
network+=",\"assignPublicIp\":\"$([ "$ASSIGN_PUBLIC_IP" = 1 ] && echo ENABLED || echo DISABLED)\"}}"

tasks=()
for ((i = 0; i < COUNT; i++)); do
    env_json="[{\"name\":\"BQLUA_SHARD_INDEX\",\"value\":\"$i\"},{\"name\":\"BQLUA_SHARD_COUNT\",\"value\":\"$COUNT\"}]"
    overrides="{\"containerOverrides\":[{\"name\":$(json_str "$CONTAINER"),\"command\":$command_json,\"environment\":$env_json}]}"
    out=$("$AWS" "${ECS_EP[@]}" ecs run-task --cluster "$CLUSTER" --task-definition "$TASK_DEFINITION" \
              --launch-type FARGATE --count 1 --started-by "bqlua-run-task" \
              --network-configuration "$network" --overrides "$overrides" \
              --query '[tasks[0].taskArn, failures[0].reason, failures[0].detail]' --output text) ||
        die "ecs run-task failed for shard $i (shards started so far: ${tasks[*]:-none})"
    IFS=$'\t' read -r arn reason detail <<< "$out"
    [ -n "$arn" ] && [ "$arn" != None ] ||
        die "shard $i was not started: $reason${detail:+ ($detail)} (shards started so far: ${tasks[*]:-none})"
    tasks+=("$arn")
    echo "shard $i/$COUNT: $arn"
done
echo "started ${#tasks[@]} task(s) on $CLUSTER running $SCRIPT_URI"
[ "$WAIT" = 1 ] || exit 0

# Where awslogs puts each container's output: GROUP, stream PREFIX/CONTAINER/TASK-ID.
log_group=- log_prefix=-
if opts=$("$AWS" "${ECS_EP[@]}" ecs describe-task-definition --task-definition "$TASK_DEFINITION" --output text \
              --query "taskDefinition.containerDefinitions[?name=='$CONTAINER'] | [0].logConfiguration.options.[\"awslogs-group\", \"awslogs-stream-prefix\"]" 2>/dev/null); then
    IFS=$'\t' read -r log_group log_prefix <<< "$opts"
fi

# Poll until every task has stopped (describe-tasks takes 100 at a time).
declare -A shard_of
for i in "${!tasks[@]}"; do shard_of[${tasks[$i]}]=$i; done
while :; do
    running=0 report=()
    for ((s = 0; s < ${#tasks[@]}; s += 100)); do
        out=$("$AWS" "${ECS_EP[@]}" ecs describe-tasks --cluster "$CLUSTER" --tasks "${tasks[@]:s:100}" --output text \
                  --query "tasks[].[taskArn, lastStatus, (containers[?name=='$CONTAINER'] | [0].exitCode), stoppedReason]") ||
            die "ecs describe-tasks failed"
        while IFS=$'\t' read -r arn st code reason; do
            [ -n "$arn" ] || continue
            [ "$st" = STOPPED ] || running=$((running + 1))
            report+=("$arn"$'\t'"$st"$'\t'"$code"$'\t'"$reason")
        done <<< "$out"
    done
    [ "$running" -gt 0 ] || break
    sleep "$POLL"
done
failed=0
for line in "${report[@]}"; do
    IFS=$'\t' read -r arn st code reason <<< "$line"
    [ "$code" = None ] && code="-"
    logs="-"
    [ "$log_group" = None ] || [ "$log_group" = - ] || logs="CloudWatch $log_group stream $log_prefix/$CONTAINER/${arn##*/}"
    echo "shard ${shard_of[$arn]:-?}: ${arn} exit $code${reason:+ ($reason)}; logs: $logs"
    [ "$code" = 0 ] || failed=$((failed + 1))
done
echo "$failed of ${#tasks[@]} shard(s) failed"
[ "$failed" = 0 ]
