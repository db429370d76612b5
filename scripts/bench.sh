#!/usr/bin/env bash
# Benchmarks: bqlua against its peers, measured in the same run, printed as ratios.
#   scripts/bench.sh start     start-up: bqlua -e '' vs lua5.4 -e '' (and python3 -c 'import boto3')
#   scripts/bench.sh all       every benchmark below
# Builds build-bench (release) first unless BQLUA=/path/to/bqlua is given.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need() {   # need CMD PACKAGE: install PACKAGE when CMD is missing (as root)
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "bench: $1 is missing (apt-get install $2)" >&2
        exit 1
    fi
}

bqlua_bin() {
    if [ -n "${BQLUA:-}" ]; then
        echo "$BQLUA"
        return
    fi
    if [ ! -d build-bench ]; then
        meson setup build-bench --buildtype=release >/dev/null
    fi
    ninja -C build-bench src/bqlua >/dev/null
    echo "$here/build-bench/src/bqlua"
}

# median_ms JSON NAME: the median of a hyperfine --export-json result, in ms
median_ms() {
    /usr/bin/python3 -c '
import json, sys
data = json.load(open(sys.argv[1]))
for r in data["results"]:
    if r["command"] == sys.argv[2]:
        print("%.3f" % (r["median"] * 1000))
' "$1" "$2"
}

bench_start() {
    need hyperfine hyperfine
    need lua5.4 lua5.4
    local bq; bq=$(bqlua_bin)
    local out; out=$(mktemp -d)
    trap 'rm -rf "$out"' RETURN
    local cmds=(-n bqlua "$bq -e ''" -n lua5.4 "lua5.4 -e ''")
    local have_boto=0
    if /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
        cmds+=(-n boto3 "/usr/bin/python3 -c 'import boto3'")
        have_boto=1
    fi
    hyperfine -N --warmup 20 --min-runs 200 --export-json "$out/start.json" "${cmds[@]}" >/dev/null 2>&1 ||
        hyperfine --warmup 20 --min-runs 200 --export-json "$out/start.json" "${cmds[@]}" >/dev/null
    local b l
    b=$(median_ms "$out/start.json" bqlua)
    l=$(median_ms "$out/start.json" lua5.4)
    echo "start-up (median of >= 200 runs)"
    printf '  %-28s %8.3f ms\n' "bqlua -e ''" "$b" "lua5.4 -e ''" "$l"
    if [ $have_boto = 1 ]; then
        local p; p=$(median_ms "$out/start.json" boto3)
        printf '  %-28s %8.3f ms\n' "python3 -c 'import boto3'" "$p"
        awk -v b="$b" -v p="$p" 'BEGIN { printf "  boto3 / bqlua  = %.1fx (bqlua is that much faster)\n", p / b }'
    fi
    awk -v b="$b" -v l="$l" 'BEGIN { r = b / l; printf "  bqlua / lua5.4 = %.2fx (target <= 4x): %s\n", r, r <= 4 ? "ok" : "OVER TARGET" }'
}

case "${1:-}" in
start) bench_start ;;
all) bench_start ;;
*)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
