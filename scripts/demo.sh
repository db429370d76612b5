#!/usr/bin/env bash
# The main job, end to end, on local services: what a Fargate task does.
#
#   1. installs what is missing (Debian packages) and builds bqlua;
#   2. starts a throwaway MariaDB with TLS, where RDS IAM authentication is
#      emulated (auth_pam + a SigV4 token verifier), and fills db01.table1;
#   3. puts lua/examples/batchquery.lua at s3://batchquery-s3/script/batchquery.lua
#      on a local S3 (--s3-root directory);
#   4. runs `bqlua batchquery-s3 script/batchquery.lua` exactly as the container's
#      command override would: IAM token, verified TLS, SELECT * FROM table1
#      exported by conn:export (formatted and uploaded in C) as
#      s3://batchquery-s3/output/result.part_00000, Aurora's INTO OUTFILE S3 format;
#   5. prints that file, and stops what it started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# shellcheck source=scripts/deps.sh
. "$here/scripts/deps.sh"
bq_require_packages "${BQ_BUILD_PACKAGES[@]}" mariadb-server mariadb-client openssl \
    libpam-modules python3 python3-botocore

# BQLUA_BUILD_DIR: another build directory (default build/).
build=${BQLUA_BUILD_DIR:-build}
echo "== building ($build)"
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" src/bqlua >/dev/null
bqlua=$(cd "$build" && pwd)/src/bqlua

work=$(mktemp -d /tmp/bqlua-demo.XXXXXX)
cleanup() {
    scripts/mariadb-test-server.sh stop "$work/db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting MariaDB (TLS, RDS IAM emulation) in $work/db"
scripts/mariadb-test-server.sh start "$work/db" >/dev/null
# shellcheck disable=SC1091
. "$work/db/env"

echo "== creating db01.table1 with ten rows"
mariadb --socket="$MYSQL_SOCKET" -uroot < scripts/demo/table1.sql
mariadb --socket="$MYSQL_SOCKET" -uroot -e "GRANT SELECT ON db01.* TO '$MYSQL_IAM_USER'@'%'"

echo "== putting the task at s3://batchquery-s3/script/batchquery.lua (local S3: $work/s3)"
mkdir -p "$work/s3/batchquery-s3/script"
cp lua/examples/batchquery.lua "$work/s3/batchquery-s3/script/batchquery.lua"

echo "== running: bqlua batchquery-s3 script/batchquery.lua"
env -i PATH="$PATH" HOME="$work" \
    BQLUA_S3_ROOT="$work/s3" \
    AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID_IAM_TEST" \
    AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY_IAM_TEST" \
    AWS_REGION="$MYSQL_IAM_REGION" AWS_EC2_METADATA_DISABLED=true \
    DB_HOST="$MYSQL_HOST" DB_PORT="$MYSQL_PORT" DB_USER="$MYSQL_IAM_USER" DB_NAME=db01 \
    DB_SSL_CA="$MYSQL_CA" \
    "$bqlua" batchquery-s3 script/batchquery.lua

result="$work/s3/batchquery-s3/output/result.part_00000"
# DEMO_RESULT: also copy the part there (the seed test compares it)
if [ -n "${DEMO_RESULT:-}" ]; then
    cp "$result" "$DEMO_RESULT"
fi
echo "== s3://batchquery-s3/output/result.part_00000"
cat "$result"
echo "== the server's IAM verifier (botocore, independent of bqlua) says:"
grep -o "user=.* ACCEPTED" "$MYSQL_IAM_VERIFIER_LOG" | sed 's/^/   /'
