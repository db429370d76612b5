#!/usr/bin/env bash
# The test command: installs what is missing (as root, from Debian), builds,
# runs every test, then builds again with AddressSanitizer + UndefinedBehavior-
# Sanitizer and runs every test again, then runs the tests that start bqlua
# directly under valgrind memcheck. Ends with "N passed, M failed".
#
#   scripts/test.sh            all three passes
#   scripts/test.sh --quick    the normal build only
#   MESON_TEST_ARGS="--suite unit" scripts/test.sh   pass arguments to meson test
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

quick=0
[ "${1:-}" = "--quick" ] && quick=1

# --- dependencies ---------------------------------------------------------------
# shellcheck source=scripts/deps.sh
. "$here/scripts/deps.sh"
test_packages=(
    # real services and reference implementations the tests start or consult
    lua5.4 mariadb-server mariadb-client openssl libpam-modules python3 python3-botocore
    python3-boto3 python3-pymysql python3-yaml awscli procps time hyperfine valgrind
)
# node and npm (for the S3 test server) may come from elsewhere than Debian
command -v node >/dev/null && command -v npm >/dev/null || test_packages+=(nodejs npm)
bq_require_packages "${BQ_BUILD_PACKAGES[@]}" "${test_packages[@]}" || exit 1

# --- build and test ----------------------------------------------------------------
# run_suite DIR [meson setup args...]
run_suite() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" || return 1
    # shellcheck disable=SC2086
    meson test -C "$dir" --print-errorlogs --num-processes 2 ${MESON_TEST_ARGS:-}
}

# count DIR [LOGBASE]: "passed failed" from meson's test log (a skip counts as a failure:
# in CI a missing service is a failure, not a skip)
count() {
    /usr/bin/python3 - "$1/meson-logs/${2:-testlog}.json" <<'PY'
import json, sys
passed = failed = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
except OSError:
    failed = 1   # no log: the build failed before any test ran
print(passed, failed)
PY
}

status=0
total_pass=0
total_fail=0

echo "=== normal build (build-test) ==="
rm -f build-test/meson-logs/testlog.json
run_suite build-test --buildtype=debugoptimized || status=1
read -r p f < <(count build-test)
total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
[ "$p" = 0 ] && status=1   # a build that ran no test has not passed

if [ $quick = 0 ]; then
    echo "=== AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan) ==="
    rm -f build-asan/meson-logs/testlog.json
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1"
    export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    run_suite build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all || status=1
    read -r p f < <(count build-asan)
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$p" = 0 ] && status=1
fi

if [ $quick = 0 ]; then
    # valgrind memcheck on the normal build: the tests that run bqlua or a C
    # test directly, and the secrets scan's 31 bqlua runs across every
    # binding. A definite leak or any memory error fails the test.
    echo "=== valgrind memcheck (build-test) ==="
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
    vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
    direct=$(meson test -C build-test --list 2>/dev/null |
             sed -n 's/^bqlua:\(unit\|lua\) \/ //p' | grep -vE 'sigv4-botocore|lua/attacks|log-format|embedded-complete')
    rm -f build-test/meson-logs/vg*.json   # --wrapper appends "-valgrind" to a logbase
    # shellcheck disable=SC2086
    meson test -C build-test --no-rebuild --print-errorlogs --num-processes 2 \
        --wrapper "$vg" --logbase vg $direct || status=1
    BQ_SECRETS_WRAPPER="$vg" meson test -C build-test --no-rebuild --print-errorlogs \
        --logbase vg-secrets integration/secrets || status=1
    for log in vg-valgrind vg-secrets; do
        read -r p f < <(count build-test "$log")
        total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
        [ "$p" = 0 ] && status=1
    done
fi

[ $total_fail -gt 0 ] && status=1
echo "$total_pass passed, $total_fail failed"
exit $status
