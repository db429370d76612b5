#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/): built with clang (the project's meson
# compiler is gcc) with AddressSanitizer + UndefinedBehaviorSanitizer, each
# against only the src/*.c files it needs, into build-fuzz/.
#
#   scripts/fuzz.sh build                      build every target
#   scripts/fuzz.sh run TARGET SECONDS [ARGS]  fuzz TARGET on build-fuzz/corpus/TARGET (seeded
#                                              from tests/fuzz/corpus/TARGET); findings go to
#                                              build-fuzz/artifacts/TARGET/
#   scripts/fuzz.sh ci [SECONDS]               every target for SECONDS (default 20) on a
#                                              throwaway copy of its corpus; fails on any
#                                              crash, leak, timeout or sanitizer report
#   scripts/fuzz.sh repro TARGET FILE...       run inputs once (a finding, a regression seed)
#   scripts/fuzz.sh merge TARGET               add to tests/fuzz/corpus/TARGET the inputs of
#                                              build-fuzz/corpus/TARGET that reach new coverage
#   scripts/fuzz.sh list                       the targets
#
# Installs clang-14 and its libFuzzer runtime from Debian when they are missing.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
out=${BQ_FUZZ_BUILD:-$here/build-fuzz}
fuzz_dir=$here/tests/fuzz

# target -> the src/*.c it needs (and the libraries to link)
declare -A SRCS=(
    [s3_xml]="s3_xml.c"
    [s3_uri]="cli.c util.c retry.c"
    [cli]="cli.c util.c retry.c"
    [creds_json]="credentials.c credentials_files.c http.c retry.c util.c curl_lazy.c"
    [outfile_sql]="outfile_sql.c"
    [outfile]="outfile.c util.c"
)
declare -A LIBS=(
    [s3_xml]="expat"
    [s3_uri]=""
    [cli]=""
    [creds_json]="json-c"
    [outfile_sql]=""
    [outfile]=""
)
TARGETS=(s3_xml s3_uri creds_json cli outfile_sql outfile)

die() { echo "fuzz.sh: $*" >&2; exit 2; }

find_clang() {
    local c
    for c in clang-14 clang; do
        command -v "$c" >/dev/null && { CLANG=$c; return 0; }
    done
    return 1
}

ensure_toolchain() {
    # shellcheck source=scripts/deps.sh
    . "$here/scripts/deps.sh"
    bq_require_packages clang-14 libclang-rt-14-dev pkg-config libexpat1-dev libjson-c-dev libssl-dev \
        libcurl4-openssl-dev || die "missing clang-14, its libFuzzer runtime or build dependencies"
    find_clang || die "no clang after installing clang-14"
}

# shellcheck disable=SC2054  # the commas are clang's
CFLAGS_COMMON=(-g -O1 -std=c11 -D_GNU_SOURCE -DBQ_VERSION='"fuzz"' -Wall -Wextra
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
               -fno-omit-frame-pointer -I"$here/src" -I"$fuzz_dir")

# build_one TARGET: rebuilds build-fuzz/fuzz_TARGET when a source or header is newer.
build_one() {
    local t=$1
    local bin=$out/fuzz_$t srcs=() s
    for s in ${SRCS[$t]}; do srcs+=("$here/src/$s"); done
    srcs+=("$fuzz_dir/fuzz_$t.c")
    if [ -x "$bin" ] && [ -z "$(find "${srcs[@]}" "$here"/src/*.h "$fuzz_dir/fuzz_common.h" "$0" -newer "$bin" 2>/dev/null)" ]; then
        return 0
    fi
    local pc_cflags pc_libs=""
    # headers only for OpenSSL/libcurl (curl is dlopen'ed by curl_lazy.c)
    pc_cflags=$(pkg-config --cflags expat json-c openssl libcurl) || return 1
    # shellcheck disable=SC2086  # a list of packages
    [ -n "${LIBS[$t]}" ] && { pc_libs=$(pkg-config --libs ${LIBS[$t]}) || return 1; }
    echo "  CC fuzz_$t" >&2
    # shellcheck disable=SC2086
    if ! "$CLANG" "${CFLAGS_COMMON[@]}" $pc_cflags "${srcs[@]}" -o "$bin.tmp.$$" $pc_libs -ldl -lpthread -lm; then
        rm -f "$bin.tmp.$$"
        return 1
    fi
    mv -f "$bin.tmp.$$" "$bin"      # a private name first: two builds may run at once
}

build_all() {
    ensure_toolchain
    mkdir -p "$out"
    local t rc=0
    for t in "${TARGETS[@]}"; do build_one "$t" || { echo "fuzz.sh: building fuzz_$t failed" >&2; rc=1; }; done
    return $rc
}

valid_target() { [ -n "${SRCS[$1]+x}" ] || die "unknown target '$1' (targets: ${TARGETS[*]})"; }

# Sanitizer options are set here, not inherited (test.sh exports its own).
sanitizer_env() {
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    unset LSAN_OPTIONS
}

# fuzz_args TARGET: the common libFuzzer flags (dictionary when there is one)
fuzz_args() {
    local t=$1 a=(-timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1)
    [ -f "$fuzz_dir/dict/$t.dict" ] && a+=(-dict="$fuzz_dir/dict/$t.dict")
    printf '%s\n' "${a[@]}"
}

cmd=${1:-}
case $cmd in
build)
    build_all
    ;;
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
run)
    [ $# -ge 3 ] || die "usage: fuzz.sh run TARGET SECONDS [libFuzzer args]"
    t=$2 secs=$3
    shift 3
    valid_target "$t"
    build_all || exit 1
    sanitizer_env
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    cp -n "$fuzz_dir/corpus/$t"/* "$out/corpus/$t/" 2>/dev/null
    mapfile -t args < <(fuzz_args "$t")
    exec "$out/fuzz_$t" "${args[@]}" -max_total_time="$secs" -artifact_prefix="$out/artifacts/$t/" \
        "$@" "$out/corpus/$t"
    ;;
repro)
    [ $# -ge 3 ] || die "usage: fuzz.sh repro TARGET FILE..."
    t=$2
    shift 2
    valid_target "$t"
    build_all || exit 1
    sanitizer_env
    exec "$out/fuzz_$t" -runs=1 "$@"
    ;;
merge)
    [ $# -eq 2 ] || die "usage: fuzz.sh merge TARGET"
    t=$2
    valid_target "$t"
    build_all || exit 1
    sanitizer_env
    [ -d "$out/corpus/$t" ] || die "no $out/corpus/$t: run the target first"
    exec "$out/fuzz_$t" -merge=1 "$fuzz_dir/corpus/$t" "$out/corpus/$t"
    ;;
ci)
    secs=${2:-20}
    build_all || exit 1
    sanitizer_env
    work=$(mktemp -d "${TMPDIR:-/tmp}/bqlua-fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    failed=()
    n=0
    echo "1..${#TARGETS[@]}"     # TAP, for meson
    for t in "${TARGETS[@]}"; do
        n=$((n + 1))
        mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
        cp "$fuzz_dir/corpus/$t"/* "$work/$t/corpus/" 2>/dev/null
        mapfile -t args < <(fuzz_args "$t")
        seeds=$(find "$work/$t/corpus" -type f | wc -l)
        "$out/fuzz_$t" "${args[@]}" -max_total_time="$secs" -artifact_prefix="$work/$t/artifacts/" \
            "$work/$t/corpus" >"$work/$t/log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
        found=$(find "$work/$t/artifacts" -type f | wc -l)
        if [ $rc != 0 ] || [ "$found" != 0 ] || ! grep -q '^Done [0-9]* runs' "$work/$t/log"; then
            echo "not ok $n - fuzz_$t: exit $rc, $found finding(s) ($seeds seeds, ${execs:-?} execs)"
            tail -n 60 "$work/$t/log" | sed 's/^/  # /'
            for f in "$work/$t/artifacts"/*; do
                [ -f "$f" ] || continue
                echo "  # finding $(basename "$f") (base64): $(head -c 600 "$f" | base64 -w0)"
            done
            failed+=("$t")
        else
            echo "ok $n - fuzz_$t: ${secs}s, ${execs:-?} execs, $seeds seeds, no finding"
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "# fuzz: findings in ${failed[*]}"
        exit 1
    fi
    echo "# fuzz: ${#TARGETS[@]} targets clean"
    ;;
*)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -z "$cmd" ] || [ "$cmd" = help ] || exit 2
    ;;
esac
