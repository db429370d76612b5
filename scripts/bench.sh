#!/usr/bin/env bash
# Benchmarks: bqlua against its peers, measured in the same run, printed as ratios.
#   scripts/bench.sh start     start-up: bqlua -e '' vs lua5.4 -e '' (and python3 -c 'import boto3')
#   scripts/bench.sh rows      1e6 rows streamed by conn:rows() vs mariadb --quick (throwaway server)
#   scripts/bench.sh s3        150 MiB through s3.writer vs aws s3 cp (throwaway S3 test server)
#   scripts/bench.sh export    1e6 rows to S3: conn:export vs mariadb | aws s3 cp - vs pymysql+boto3
#   scripts/bench.sh all       every benchmark above
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
    # (command substitutions do not inherit set -e: fail explicitly, so that a
    # failed build is not benchmarked with a stale binary)
    ninja -C build-bench src/bqlua >/dev/null || { echo "bench: the release build failed" >&2; exit 1; }
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

# mariadb_start DIR: a throwaway MariaDB in DIR (plain TCP on 127.0.0.1 for
# the password user); sets the caller's locals MYSQL_HOST MYSQL_PORT
# MYSQL_SOCKET MYSQL_DATABASE MYSQL_PW_USER MYSQL_PW_PASSWORD from DIR/env.
# Its InnoDB buffer pool (BENCH_BUFFER_POOL, default 256M; the tests' server
# has 32M) holds the 1e6-row table, so that after the warm-up runs every
# contender reads it from memory, as from a warm production table: with 32M
# each run read the table from disk again (O_DIRECT), and the figures
# measured the disk as much as the clients.
# Read, not sourced (`.` would fire the caller's RETURN trap) nor exported
# (the mariadb client itself reads MYSQL_HOST, MYSQL_PWD, ...).
mariadb_start() {
    # without what an earlier benchmark exported for the mariadb client
    # (MYSQL_PWD would be the server script's root password)
    env -u MYSQL_PWD -u MYSQL_HOST -u MYSQL_TCP_PORT -u BQ_BENCH_PASSWORD \
        MYSQL_EXTRA_ARGS="--innodb-buffer-pool-size=${BENCH_BUFFER_POOL:-256M}" \
        bash "$here/scripts/mariadb-test-server.sh" start "$1" > "$1.log" 2>&1 ||
        { echo "bench: cannot start the MariaDB test server:" >&2; tail -n 5 "$1.log" >&2; return 1; }
    local k v
    while IFS='=' read -r k v; do
        case "$k" in
        MYSQL_HOST | MYSQL_PORT | MYSQL_SOCKET | MYSQL_DATABASE | MYSQL_PW_USER | MYSQL_PW_PASSWORD | MYSQL_CA) printf -v "$k" '%s' "$v" ;;
        esac
    done < "$1/env"
}

# create_big NAME N: table NAME with N mixed-type rows (BIGINT, INT, BIGINT
# UNSIGNED, DECIMAL, VARCHAR, DATETIME, DOUBLE, a NULL in every fifth row),
# through the caller's MYSQL_SOCKET / MYSQL_DATABASE.
create_big() {
    echo "bench: creating table $1 ($2 rows) ..." >&2
    mariadb -S "$MYSQL_SOCKET" -u root "$MYSQL_DATABASE" <<SQL
CREATE TABLE $1 (
  id BIGINT PRIMARY KEY, i INT, u BIGINT UNSIGNED, d DECIMAL(12,2), s VARCHAR(64),
  t DATETIME, f DOUBLE, n INT NULL
) ENGINE=InnoDB;
INSERT INTO $1
  SELECT seq, seq % 1000, seq * 7, seq / 100, CONCAT('name-', seq, '-', REPEAT('x', seq % 20)),
         '2024-01-01' + INTERVAL seq SECOND, seq / 3, IF(seq % 5 = 0, NULL, seq)
  FROM seq_1_to_$2;
SQL
}

# s3_start DIR BUCKET: the S3 test server (s3rver behind the SigV4-verifying
# front, 127.0.0.1) in DIR with BUCKET; sets the caller's locals S3_ENDPOINT
# AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY S3_CA_BUNDLE from DIR/env. Plain
# HTTP by default; BENCH_S3_TLS=1 serves HTTPS (its own CA), as S3 itself.
# Either way the server's own work (the Python front, s3rver) runs on the
# same cores as the contenders, and over HTTPS that work grows by the front's
# TLS, which no client pays in production: plain HTTP measures the clients
# with less of the server mixed in. (Over HTTP bqlua checks each streamed
# part's ETag against its MD5, work it skips over HTTPS.)
s3_start() {
    local tls=()
    [ "${BENCH_S3_TLS:-0}" = 0 ] || tls=(--tls)
    bash "$here/scripts/s3-test-server.sh" start "$1" --bucket "$2" "${tls[@]}" >/dev/null 2>&1 ||
        { echo "bench: cannot start the S3 test server" >&2; return 1; }
    local k v
    S3_CA_BUNDLE=
    while IFS='=' read -r k v; do
        case "$k" in
        S3_ENDPOINT | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | S3_CA_BUNDLE) printf -v "$k" '%s' "$v" ;;
        esac
    done < "$1/env"
}

# s3_env CMD...: CMD with the caller's test S3 keys and CA (AWS_CA_BUNDLE, which
# bqlua, the CLI and boto3 all read) and nothing else of AWS's
s3_env() {
    env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 -u AWS_CA_BUNDLE \
        AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
        AWS_SHARED_CREDENTIALS_FILE=/dev/null ${S3_CA_BUNDLE:+AWS_CA_BUNDLE="$S3_CA_BUNDLE"} "$@"
}

# s3_where: how the S3 test server was reached, for the reports
s3_where() {
    case "$S3_ENDPOINT" in
    https:*) echo "s3rver behind the SigV4 front, HTTPS on 127.0.0.1" ;;
    *) echo "s3rver behind the SigV4 front, plain HTTP on 127.0.0.1" ;;
    esac
}

# settle: before each timed run, write back what the previous one left dirty
# (its objects on the S3 server's disk) and let the servers go idle, so that
# no contender pays for the one before it. BENCH_SETTLE seconds (default 3).
settle() {
    sync
    sleep "${BENCH_SETTLE:-3}"
}

# time_stats FILE...: "median_wall_s peak_rss_kib" over /usr/bin/time -f '%e %M' outputs
time_stats() {
    tail -q -n 1 "$@" | sort -n | awk '{ w[NR] = $1; if ($2 > m) m = $2 }
        END { printf "%s %d\n", (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2, m }'
}

# paired "A..." "B...": A's walls over B's, run by run (each pair ran back to
# back, so a slow spell of the machine weighs on both), and their median
paired() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, A, " "); split(b, B, " ")
        for (i = 1; i <= n; i++) { r[i] = A[i] / B[i]; printf "%.2f ", r[i] }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
        printf "(median %.2f)\n", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    }'
}

# walls FILE...: every run's wall time, in run order (the spread behind a median)
walls() {
    tail -q -n 1 "$@" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 } END { print "" }'
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

# rows: streaming a million mixed-type rows from a throwaway MariaDB (plain TCP
# on 127.0.0.1, no TLS, the same user for both): bqlua's conn:rows() against
# `mariadb --quick -B -N` to /dev/null; rows/s, the ratio and bqlua's peak RSS.
bench_rows() {
    need hyperfine hyperfine
    local bq; bq=$(bqlua_bin)
    local out; out=$(mktemp -d /tmp/bqlua-bench-rows.XXXXXX)
    # shellcheck disable=SC2064
    trap "bash '$here/scripts/mariadb-test-server.sh' stop '$out/srv' >/dev/null 2>&1 || true; rm -rf '$out'" RETURN
    local MYSQL_HOST MYSQL_PORT MYSQL_SOCKET MYSQL_DATABASE MYSQL_PW_USER MYSQL_PW_PASSWORD
    mariadb_start "$out/srv" || return 1
    local n=1000000
    create_big big "$n" || return 1
    local -x BQ_BENCH_PASSWORD="$MYSQL_PW_PASSWORD" MYSQL_PWD="$MYSQL_PW_PASSWORD"  # off the command lines, for this benchmark only
    local lua="local c = db.connect{host = '$MYSQL_HOST', port = $MYSQL_PORT, user = '$MYSQL_PW_USER', password = os.getenv('BQ_BENCH_PASSWORD'), database = '$MYSQL_DATABASE'} local n = 0 for row in c:rows('SELECT * FROM big') do n = n + 1 end print(n)"
    local got; got=$("$bq" -e "$lua")
    [ "$got" = "$n" ] || { echo "bench: bqlua counted '$got' rows, expected $n" >&2; return 1; }
    local cli="mariadb --quick -B -N --skip-ssl -h $MYSQL_HOST -P $MYSQL_PORT -u $MYSQL_PW_USER $MYSQL_DATABASE -e 'SELECT * FROM big' > /dev/null"
    hyperfine --warmup 1 --runs 7 --export-json "$out/rows.json" \
        -n bqlua "$bq -e \"$lua\"" -n mariadb "$cli" >/dev/null
    local b m
    b=$(median_ms "$out/rows.json" bqlua)
    m=$(median_ms "$out/rows.json" mariadb)
    /usr/bin/time -f %M -o "$out/rss" "$bq" -e "$lua" >/dev/null
    local rss; rss=$(tail -n 1 "$out/rss")
    echo "rows: SELECT * FROM big ($n rows: BIGINT, INT, BIGINT UNSIGNED, DECIMAL, VARCHAR, DATETIME, DOUBLE, NULLs), median of 7 runs"
    awk -v b="$b" -v m="$m" -v n="$n" -v rss="$rss" 'BEGIN {
        printf "  %-40s %8.0f ms  %10.0f rows/s\n", "bqlua conn:rows() loop", b, n / (b / 1000)
        printf "  %-40s %8.0f ms  %10.0f rows/s\n", "mariadb --quick -B -N --skip-ssl > /dev/null", m, n / (m / 1000)
        printf "  bqlua / mariadb time = %.2fx\n", b / m
        printf "  bqlua peak RSS = %.1f MiB (target <= 32 MiB): %s\n", rss / 1024, rss <= 32 * 1024 ? "ok" : "OVER TARGET"
    }'
}

# s3: a 150 MiB object uploaded to the S3 test server (s3rver behind the
# SigV4-verifying front, on 127.0.0.1) by s3.writer (1 MiB writes, default
# 8 MiB parts) and by `aws s3 cp` of a file with the same bytes (Debian's
# CLI, its default 8 MiB parts and 10 threads), alternately, in the same run:
# median wall time of BENCH_S3_RUNS runs each (default 3) and peak RSS.
bench_s3() {
    need /usr/bin/time time
    [ -x /usr/bin/aws ] || { echo "bench: /usr/bin/aws is missing (apt-get install awscli)" >&2; return 1; }
    local bq; bq=$(bqlua_bin)
    local runs=${BENCH_S3_RUNS:-3} mib=150 bucket=bqlua-bench
    local out; out=$(mktemp -d /tmp/bqlua-bench-s3.XXXXXX)
    # shellcheck disable=SC2064
    trap "bash '$here/scripts/s3-test-server.sh' stop '$out/srv' >/dev/null 2>&1 || true; rm -rf '$out'" RETURN
    local S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY S3_CA_BUNDLE k v
    s3_start "$out/srv" "$bucket" || return 1
    # The same bytes both ways: a 1 MiB block (string.rep of a 16-byte line,
    # so that making it costs the script no memory beyond the block), $mib times.
    /usr/bin/python3 -c '
import sys
block = b"0123456789abcde\n" * 65536
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
' "$out/data.bin" "$mib"
    local lua="local B, K, n = ... local block = ('0123456789abcde\n'):rep(65536)
local w = s3.writer('s3://' .. B .. '/' .. K)
for _ = 1, tonumber(n) do w:write(block) end local r = w:close() print(r.size, r.parts)"
    echo "s3: uploading $mib MiB, $runs runs each ..." >&2
    local i
    for i in $(seq "$runs"); do
        settle
        s3_env /usr/bin/time -f '%e %M' -o "$out/bq.$i" \
            "$bq" --endpoint "$S3_ENDPOINT" -e "$lua" "$bucket" bqlua.bin "$mib" > "$out/bq.out" ||
            { echo "bench: bqlua failed" >&2; return 1; }
        settle
        s3_env /usr/bin/time -f '%e %M' -o "$out/cli.$i" \
            /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "$out/data.bin" \
            "s3://$bucket/cli.bin" > /dev/null || { echo "bench: aws s3 cp failed" >&2; return 1; }
    done
    local size=$((mib * 1048576)) b c
    for k in bqlua.bin cli.bin; do
        v=$(s3_env /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$bucket" \
            --key "$k" --query ContentLength --output text)
        [ "$v" = "$size" ] || { echo "bench: $k has $v bytes, expected $size" >&2; return 1; }
    done
    b=$(time_stats "$out"/bq.[0-9]*)
    c=$(time_stats "$out"/cli.[0-9]*)
    echo "s3: a $mib MiB object to the S3 test server ($(s3_where)), median of $runs runs"
    echo "  runs (s): bqlua $(walls "$out"/bq.[0-9]*); aws $(walls "$out"/cli.[0-9]*)"
    awk -v b="$b" -v c="$c" -v mib="$mib" -v parts="$(cut -f2 "$out/bq.out")" 'BEGIN {
        split(b, B, " "); split(c, C, " ")
        printf "  %-44s %7.2f s  %6.1f MiB/s  peak RSS %6.1f MiB\n", "bqlua s3.writer (1 MiB writes, " parts " parts)", B[1], mib / B[1], B[2] / 1024
        printf "  %-44s %7.2f s  %6.1f MiB/s  peak RSS %6.1f MiB\n", "aws s3 cp FILE", C[1], mib / C[1], C[2] / 1024
        r = B[1] / C[1]
        printf "  bqlua / aws time = %.2fx (target <= 1x): %s\n", r, r <= 1 ? "ok" : "OVER TARGET"
        printf "  bqlua / aws peak RSS = %.2fx\n", B[2] / C[2]
        printf "  bqlua peak RSS = %.1f MiB (target <= 32 MiB): %s\n", B[2] / 1024, B[2] <= 32 * 1024 ? "ok" : "OVER TARGET"
    }'
}

# export: SELECT * FROM big (1e6 mixed-type rows, throwaway MariaDB on
# 127.0.0.1, the password user; bqlua over TLS verified with the server's CA,
# as in production, the mariadb client over its default TLS, pymysql in
# plain TCP, its default) to the S3 test server, in the same run and
# alternately, BENCH_EXPORT_RUNS runs each (default 3): bqlua's conn:export,
# `mariadb --quick -B -N -e ... | aws s3 cp -` and scripts/bench/export_pymysql.py
# (Debian's python3-pymysql + python3-boto3, the same bytes as bqlua): median
# wall, rows/s, peak RSS (/usr/bin/time %M; for the pipeline, its largest
# process), the objects' bytes; then bqlua's peak RSS exporting 4e6 rows.
bench_export() {
    need /usr/bin/time time
    [ -x /usr/bin/aws ] || { echo "bench: /usr/bin/aws is missing (apt-get install awscli)" >&2; return 1; }
    /usr/bin/python3 -c 'import pymysql, boto3' 2>/dev/null || {
        if [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pymysql python3-boto3 >/dev/null
        else
            echo "bench: python3-pymysql / python3-boto3 are missing" >&2
            return 1
        fi
    }
    local bq; bq=$(bqlua_bin)
    local runs=${BENCH_EXPORT_RUNS:-3} bucket=bench n=1000000 n4=4000000
    local out; out=$(mktemp -d /tmp/bqlua-bench-export.XXXXXX)
    # shellcheck disable=SC2064
    trap "bash '$here/scripts/mariadb-test-server.sh' stop '$out/db' >/dev/null 2>&1 || true
          bash '$here/scripts/s3-test-server.sh' stop '$out/s3' >/dev/null 2>&1 || true; rm -rf '$out'" RETURN
    local MYSQL_HOST MYSQL_PORT MYSQL_SOCKET MYSQL_DATABASE MYSQL_PW_USER MYSQL_PW_PASSWORD MYSQL_CA
    local S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY S3_CA_BUNDLE
    mariadb_start "$out/db" || return 1
    s3_start "$out/s3" "$bucket" || return 1
    create_big big "$n" || return 1
    create_big big4 "$n4" || return 1
    local nulls
    nulls=$(mariadb -S "$MYSQL_SOCKET" -u root -N -B "$MYSQL_DATABASE" -e 'SELECT COUNT(*) FROM big WHERE n IS NULL') ||
        return 1
    local -x BQ_BENCH_PASSWORD="$MYSQL_PW_PASSWORD" MYSQL_PWD="$MYSQL_PW_PASSWORD"  # off the command lines, for this benchmark only
    local lua="local sql, uri = ...
local c = db.connect{host = '$MYSQL_HOST', port = $MYSQL_PORT, user = '$MYSQL_PW_USER', password = os.getenv('BQ_BENCH_PASSWORD'),
                     database = '$MYSQL_DATABASE', ssl_ca = '$MYSQL_CA'}
local r = c:export(sql, uri, {overwrite = true}) print(r.rows, r.bytes, #r.parts)"
    local cli="set -o pipefail; mariadb --quick -B -N -h $MYSQL_HOST -P $MYSQL_PORT -u $MYSQL_PW_USER $MYSQL_DATABASE -e 'SELECT * FROM big' |
        /usr/bin/aws --endpoint-url $S3_ENDPOINT s3 cp --only-show-errors - s3://$bucket/cli/result.part_00000"
    local py=(/usr/bin/python3 "$here/scripts/bench/export_pymysql.py" "$MYSQL_HOST" "$MYSQL_PORT" "$MYSQL_PW_USER"
        "$MYSQL_DATABASE" 'SELECT * FROM big' "s3://$bucket/py/result.part_00000" "$S3_ENDPOINT")
    echo "export: $n rows, $runs runs each, alternately ..." >&2
    # a warm-up run of each, which also checks the row counts
    local got
    got=$(s3_env "$bq" --endpoint "$S3_ENDPOINT" -q -e "$lua" 'SELECT * FROM big' "s3://$bucket/bq/result") ||
        { echo "bench: bqlua export failed" >&2; return 1; }
    [ "$(cut -f1 <<<"$got")" = "$n" ] || { echo "bench: bqlua exported '$got', expected $n rows" >&2; return 1; }
    s3_env bash -c "$cli" || { echo "bench: the mariadb | aws s3 cp pipeline failed" >&2; return 1; }
    got=$(s3_env "${py[@]}") || { echo "bench: the Python export failed" >&2; return 1; }
    [ "${got%% *}" = "$n" ] || { echo "bench: Python exported '$got', expected $n rows" >&2; return 1; }
    local i
    for i in $(seq "$runs"); do
        settle
        s3_env /usr/bin/time -f '%e %M' -o "$out/bq.$i" \
            "$bq" --endpoint "$S3_ENDPOINT" -q -e "$lua" 'SELECT * FROM big' "s3://$bucket/bq/result" > "$out/bq.out" ||
            { echo "bench: bqlua export failed" >&2; return 1; }
        settle
        s3_env /usr/bin/time -f '%e %M' -o "$out/cli.$i" bash -c "$cli" ||
            { echo "bench: the mariadb | aws s3 cp pipeline failed" >&2; return 1; }
        settle
        s3_env /usr/bin/time -f '%e %M' -o "$out/py.$i" "${py[@]}" > "$out/py.out" ||
            { echo "bench: the Python export failed" >&2; return 1; }
    done
    echo "export: $n4 rows (bqlua, once, for its peak RSS) ..." >&2
    settle
    s3_env /usr/bin/time -f '%e %M' -o "$out/bq4" \
        "$bq" --endpoint "$S3_ENDPOINT" -q -e "$lua" 'SELECT * FROM big4' "s3://$bucket/bq4/result" > "$out/bq4.out" ||
        { echo "bench: bqlua export of big4 failed" >&2; return 1; }
    [ "$(cut -f1 "$out/bq4.out")" = "$n4" ] || { echo "bench: bqlua exported '$(cat "$out/bq4.out")', expected $n4 rows" >&2; return 1; }
    # the objects' sizes and ETags (the same multipart ETag: the same bytes in the same parts)
    local k v sizes=() etags=()
    for k in bq cli py; do
        v=$(s3_env /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$bucket" \
            --key "$k/result.part_00000" --query '[ContentLength, ETag]' --output text) ||
            { echo "bench: no $k/result.part_00000" >&2; return 1; }
        sizes+=("$(cut -f1 <<<"$v")")
        etags+=("$(cut -f2 <<<"$v")")
    done
    local b c p
    b=$(time_stats "$out"/bq.[0-9]*)
    c=$(time_stats "$out"/cli.[0-9]*)
    p=$(time_stats "$out"/py.[0-9]*)
    echo "export: SELECT * FROM big ($n rows: BIGINT, INT, BIGINT UNSIGNED, DECIMAL, VARCHAR, DATETIME, DOUBLE, NULLs)"
    echo "        to the S3 test server ($(s3_where)), median of $runs runs"
    echo "  runs (s): bqlua $(walls "$out"/bq.[0-9]*); CLI $(walls "$out"/cli.[0-9]*); python $(walls "$out"/py.[0-9]*)"
    awk -v b="$b" -v c="$c" -v p="$p" -v n="$n" -v n4="$n4" -v b4="$(tail -n 1 "$out/bq4")" \
        -v parts="$(cut -f3 "$out/bq.out")" -v parts4="$(cut -f3 "$out/bq4.out")" -v bytes4="$(cut -f2 "$out/bq4.out")" \
        -v sb="${sizes[0]}" -v sc="${sizes[1]}" -v sp="${sizes[2]}" -v eb="${etags[0]}" -v ep="${etags[2]}" -v nulls="$nulls" \
        -v pairs="$(paired "$(walls "$out"/bq.[0-9]*)" "$(walls "$out"/cli.[0-9]*)")" 'BEGIN {
        split(b, B, " "); split(c, C, " "); split(p, P, " "); split(b4, B4, " ")
        f = "  %-46s %7.2f s  %9.0f rows/s  peak RSS %6.1f MiB  %11d bytes\n"
        printf f, "bqlua conn:export (" parts " part)", B[1], n / B[1], B[2] / 1024, sb
        printf f, "mariadb --quick -B -N | aws s3 cp -", C[1], n / C[1], C[2] / 1024, sc
        printf f, "python3 pymysql SSCursor + boto3", P[1], n / P[1], P[2] / 1024, sp
        printf "  bytes: python - bqlua = %d: %s", sp - sb, sp == sb ? "same" : "DIFFERENT"
        printf "%s\n", sp == sb ? (eb == ep ? " (same ETag " eb ")" : " (but ETags differ: " eb " vs " ep ")") : ""
        printf "  bytes: CLI - bqlua = %d (%d NULLs x 2: mariadb -B writes NULL where INTO OUTFILE writes \\N): %s\n",
            sc - sb, nulls, sc - sb == 2 * nulls ? "as expected" : "UNEXPLAINED"
        r = B[1] / C[1]
        printf "  bqlua / CLI time    = %.2fx (target <= 0.7x): %s\n", r, r <= 0.7 ? "ok" : "OVER TARGET"
        printf "  bqlua / CLI, run by run: %s\n", pairs
        r = P[1] / B[1]
        printf "  python / bqlua time = %.1fx (target >= 6x): %s\n", r, r >= 6 ? "ok" : "OVER TARGET"
        printf "  bqlua peak RSS at %dM rows = %.1f MiB (target <= 32 MiB): %s\n", n / 1e6, B[2] / 1024, B[2] <= 32 * 1024 ? "ok" : "OVER TARGET"
        printf "  bqlua peak RSS at %dM rows = %.1f MiB (target <= 32 MiB): %s  (%.2f s, %d bytes, %d part)\n",
            n4 / 1e6, B4[2] / 1024, B4[2] <= 32 * 1024 ? "ok" : "OVER TARGET", B4[1], bytes4, parts4
    }'
}

case "${1:-}" in
start) bench_start ;;
rows) bench_rows ;;
s3) bench_s3 ;;
export) bench_export ;;
all) bench_start; bench_rows; bench_s3; bench_export ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
