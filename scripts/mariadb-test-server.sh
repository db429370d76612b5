#!/usr/bin/env bash
# A throwaway MariaDB server for bqlua's tests and demo: TLS with a test CA,
# password users, and an emulation of RDS IAM authentication (PAM + a token
# verifier that checks the SigV4 presigned token with botocore).
#
# Usage (as root: it installs a PAM service file under /etc/pam.d):
#   scripts/mariadb-test-server.sh start DIR [--no-tls]
#   scripts/mariadb-test-server.sh stop DIR
#   scripts/mariadb-test-server.sh status DIR
#
# `start` creates DIR (which must not hold a running server), writes the
# certificates, the datadir, the logs and DIR/env, and returns once the server
# accepts connections on 127.0.0.1:$MYSQL_PORT. `stop` stops that server (by
# its PID only) and removes its PAM service file; the caller removes DIR.
#
# DIR/env (KEY=value lines, no quoting needed; `. DIR/env` or `set -a; . DIR/env`):
#   MYSQL_HOST=127.0.0.1            MYSQL_PORT=<free port>
#   MYSQL_SOCKET=DIR/mysqld.sock    MYSQL_PID=<mariadbd pid>
#   MYSQL_TLS=1|0                   (0 with --no-tls: the server has no TLS at all,
#                                   and MYSQL_CA, MYSQL_WRONG_CA are empty)
#   MYSQL_CA=DIR/tls/ca.pem         the CA that signed the server certificate
#                                   (SAN IP:127.0.0.1, DNS:localhost)
#   MYSQL_WRONG_CA=DIR/tls/wrong-ca.pem  an unrelated CA (same subject DN as the
#                                   right one, other key): verification must fail
#   MYSQL_DATABASE=bqtest           usable by all users below
#   MYSQL_ROOT_USER=root            admin, passwordless, over the socket only
#   MYSQL_PW_USER=bq_pw   MYSQL_PW_PASSWORD=...    password user, no TLS required
#   MYSQL_TLS_USER=bq_tls MYSQL_TLS_PASSWORD=...   password user, REQUIRE SSL
#   MYSQL_IAM_USER=bq_iam           RDS IAM emulation: IDENTIFIED VIA pam, REQUIRE SSL
#                                   (no REQUIRE SSL with --no-tls, so a client that
#                                   wrongly sent a token in clear would be let in)
#   MYSQL_IAM_REGION=us-east-1
#   AWS_ACCESS_KEY_ID_IAM_TEST=AKIDBQLUATEST      long-term test credentials whose
#   AWS_SECRET_ACCESS_KEY_IAM_TEST=...            tokens the server accepts
#   AWS_ACCESS_KEY_ID_IAM_TEST_TEMP=ASIABQLUATEST temporary test credentials: tokens
#   AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP=...       made with them carry a session token,
#   AWS_SESSION_TOKEN_IAM_TEST_TEMP=...           too long for pam_exec (511 bytes): check
#                                                 those with the verifier's --check mode
#   MYSQL_IAM_PAM_SERVICE=bqlua-rds-iam-<unique>  (/etc/pam.d/<that>, removed by stop)
#   MYSQL_IAM_SECRETS=DIR/iam-secrets             JSON: access key id -> secret
#   MYSQL_IAM_VERIFIER=DIR/rds_token_verifier.py  run with /usr/bin/python3:
#       rds_token_verifier.py --check TOKEN --host 127.0.0.1 --port $MYSQL_PORT \
#           --user bq_iam --region us-east-1 --secrets $MYSQL_IAM_SECRETS
#   MYSQL_IAM_VERIFIER_LOG=DIR/verifier.log       one line per verification
#                                                 (reason of a refusal; never secrets)
#   MYSQL_ERROR_LOG=DIR/mariadbd.log
#
# MYSQL_EXTRA_ARGS (environment of `start`): more mariadbd options, split on
# spaces, e.g. MYSQL_EXTRA_ARGS=--secure-file-priv=/tmp/x for INTO OUTFILE.
#
# Log in with an IAM token:
#   mariadb --enable-cleartext-plugin --ssl-ca=$MYSQL_CA --ssl-verify-server-cert \
#       -h 127.0.0.1 -P $MYSQL_PORT -u bq_iam -p"$TOKEN" bqtest
#
# Needs: mariadb-server, mariadb-client, openssl, python3-botocore,
# python3-pymysql (tests), libpam-modules; installed with apt-get when missing.
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SELF_DIR")
VERIFIER_SRC="$REPO_DIR/tests/integration/mariadb/rds_token_verifier.py"
PY=/usr/bin/python3
REGION=us-east-1
IAM_AKID=AKIDBQLUATEST
IAM_SECRET=bqluaTestSecretKey0000000000000000000040   # 40 chars
IAM_TEMP_AKID=ASIABQLUATEST
IAM_TEMP_SECRET=bqluaTestTempSecretKey000000000000000040   # 40 chars
# A session token in the shape of STS's (long, base64-ish, with '/' and '+'
# which must be percent-encoded in the token).
IAM_TEMP_SESSION_TOKEN="IQoJb3JpZ2luX2VjEBQaCXVzLWVhc3QtMSJHMEUCIQD+bqlua/test+session/token$(printf 'A%.0s' {1..300})=="
PAM_PREFIX=bqlua-rds-iam-

die() { echo "mariadb-test-server: $*" >&2; exit 1; }
# shellcheck source=scripts/test-tls.sh
. "$(dirname "${BASH_SOURCE[0]}")/test-tls.sh"
log() { echo "mariadb-test-server: $*" >&2; }

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

ensure_packages() {
    local missing=() p
    for p in mariadb-server mariadb-client openssl python3 python3-botocore python3-pymysql libpam-modules; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root to install them)"
    log "installing ${missing[*]}"
    # Keep the packages' maintainer scripts from starting the system service.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created_policy=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }; } || rc=$?
    [ $created_policy -eq 1 ] && rm -f "$policy"
    [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed"
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Is PID our mariadbd for DIR (guards against a recycled PID)?
is_our_server() {
    local pid=$1 dir=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    local cmd
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmd" == *mariadbd* && "$cmd" == *"--datadir=$dir/data "* ]]
}

# Remove PAM service files left by servers whose DIR no longer exists.
clean_stale_pam() {
    local f d
    for f in /etc/pam.d/${PAM_PREFIX}*; do
        [ -f "$f" ] || continue
        d=$(sed -n 's/^# bqlua-test-server-dir=//p' "$f" | head -n1)
        if [ -n "$d" ] && [ ! -d "$d" ]; then rm -f "$f"; fi
    done
}

cmd_start() {
    local dir="" notls=0 a
    for a in "$@"; do
        case "$a" in
            --no-tls) notls=1 ;;
            -*) die "unknown option $a" ;;
            *) [ -z "$dir" ] || die "one DIR only"; dir=$a ;;
        esac
    done
    [ -n "$dir" ] || usage
    [ "$(id -u)" -eq 0 ] || die "start must run as root (it installs a PAM service in /etc/pam.d)"
    ensure_packages
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    # DIR ends up in a PAM config line and a socket path.
    [[ "$dir" =~ ^[A-Za-z0-9_./-]+$ ]] || die "DIR must match [A-Za-z0-9_./-]+: $dir"
    [ ${#dir} -le 80 ] || die "DIR path too long for a unix socket: $dir"
    if [ -f "$dir/server.pid" ] && is_our_server "$(cat "$dir/server.pid")" "$dir"; then
        die "a server is already running for $dir (pid $(cat "$dir/server.pid"))"
    fi
    [ ! -e "$dir/data" ] || die "$dir/data exists: use a fresh DIR"
    clean_stale_pam

    local t0=$SECONDS
    mkdir -p "$dir/tmp"
    if [ $notls -eq 0 ]; then gen_tls "$dir/tls"; fi

    # Verifier, secrets, PAM service.
    install -m 0755 "$VERIFIER_SRC" "$dir/rds_token_verifier.py"
    local secrets="$dir/iam-secrets"
    ( umask 077
      "$PY" - "$secrets" "$IAM_AKID" "$IAM_SECRET" "$IAM_TEMP_AKID" "$IAM_TEMP_SECRET" "$IAM_TEMP_SESSION_TOKEN" <<'EOF'
import json, sys
path, akid, secret, takid, tsecret, tst = sys.argv[1:]
with open(path, "w") as f:
    json.dump({akid: {"secret": secret}, takid: {"secret": tsecret, "session_token": tst}}, f, indent=1)
EOF
    )
    local svc
    svc="${PAM_PREFIX}$(openssl rand -hex 6)"
    echo "$svc" > "$dir/pam-service"
    : > "$dir/verifier.log"; chmod 600 "$dir/verifier.log"

    local pw_pw tls_pw
    pw_pw=$(openssl rand -hex 12)
    tls_pw=$(openssl rand -hex 12)

    log "initialising datadir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
        --auth-root-authentication-method=normal --skip-test-db \
        --skip-name-resolve --tmpdir="$dir/tmp" \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=8M --skip-log-bin \
        > "$dir/install-db.log" 2>&1 || { tail -n 30 "$dir/install-db.log" >&2; die "mariadb-install-db failed"; }

    local tries port pid ok=0
    for tries in 1 2 3; do
        port=$(free_port)
        # The PAM service names this port, so (re)write it for each try.
        cat > "/etc/pam.d/$svc" <<EOF
# RDS IAM emulation for a bqlua test MariaDB server (scripts/mariadb-test-server.sh).
# Removed by 'mariadb-test-server.sh stop'; safe to delete when the dir below is gone.
# bqlua-test-server-dir=$dir
auth required pam_exec.so expose_authtok quiet log=$dir/pam_exec.log $PY $dir/rds_token_verifier.py --pam --host 127.0.0.1 --port $port --region $REGION --secrets $secrets --log $dir/verifier.log
account required pam_permit.so
EOF
        local -a args=(
            --no-defaults --user=root
            --datadir="$dir/data" --socket="$dir/mysqld.sock" --pid-file="$dir/mariadbd.pid"
            --tmpdir="$dir/tmp" --log-error="$dir/mariadbd.log"
            --bind-address=127.0.0.1 --port="$port" --skip-name-resolve
            --skip-log-bin --innodb-buffer-pool-size=32M --innodb-log-file-size=8M
            --performance-schema=OFF --max-connections=64 --skip-host-cache
            --plugin-load-add=auth_pam --pam-use-cleartext-plugin=ON
            --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
        )
        if [ $notls -eq 0 ]; then
            args+=(--ssl-ca="$dir/tls/ca.pem" --ssl-cert="$dir/tls/server-cert.pem"
                   --ssl-key="$dir/tls/server-key.pem" --require-secure-transport=OFF)
        fi
        if [ -n "${MYSQL_EXTRA_ARGS:-}" ]; then
            local -a extra
            read -r -a extra <<<"$MYSQL_EXTRA_ARGS"
            args+=("${extra[@]}")
        fi
        : > "$dir/mariadbd.log"
        mariadbd "${args[@]}" </dev/null >>"$dir/mariadbd.out" 2>&1 &
        pid=$!
        echo "$pid" > "$dir/server.pid"
        local deadline=$((SECONDS + 30))
        while [ $SECONDS -lt $deadline ]; do
            if ! kill -0 "$pid" 2>/dev/null; then break; fi
            # mariadbd listens on TCP before the socket, and accepts on both
            # once "ready for connections".
            if mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u root --connect-timeout=2 ping >/dev/null 2>&1; then
                ok=1; break
            fi
            sleep 0.1
        done
        [ $ok -eq 1 ] && break
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            tail -n 30 "$dir/mariadbd.log" >&2
            rm -f "/etc/pam.d/$svc"
            die "mariadbd did not accept connections within 30 s (log: $dir/mariadbd.log)"
        fi
        wait "$pid" 2>/dev/null || true
        if grep -qiE "bind on tcp/ip port|address already in use" "$dir/mariadbd.log"; then
            log "port $port was taken, retrying"
            continue
        fi
        break
    done
    if [ $ok -ne 1 ]; then
        tail -n 30 "$dir/mariadbd.log" >&2
        rm -f "/etc/pam.d/$svc"
        die "mariadbd failed to start (log: $dir/mariadbd.log)"
    fi

    local iam_require="REQUIRE SSL"
    [ $notls -eq 0 ] || iam_require=""
    mariadb --no-defaults --socket="$dir/mysqld.sock" -u root <<EOF || { stop_server "$dir"; die "user setup failed"; }
-- mariadb-install-db 10.11 may create anonymous accounts, which would shadow
-- the test users for socket logins: drop them.
-- Root (passwordless) stays reachable over the socket only: drop root@<hostname>
-- (warned about with skip-name-resolve), root@127.0.0.1 and root@::1.
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
FLUSH PRIVILEGES;
CREATE DATABASE bqtest CHARACTER SET utf8mb4;
CREATE USER 'bq_pw'@'%' IDENTIFIED BY '$pw_pw';
CREATE USER 'bq_tls'@'%' IDENTIFIED BY '$tls_pw' REQUIRE SSL;
CREATE USER 'bq_iam'@'%' IDENTIFIED VIA pam USING '$svc' $iam_require;
GRANT ALL PRIVILEGES ON bqtest.* TO 'bq_pw'@'%', 'bq_tls'@'%', 'bq_iam'@'%';
EOF

    cat > "$dir/env.tmp" <<EOF
MYSQL_HOST=127.0.0.1
MYSQL_PORT=$port
MYSQL_SOCKET=$dir/mysqld.sock
MYSQL_PID=$pid
MYSQL_TLS=$((1 - notls))
MYSQL_CA=$( [ $notls -eq 0 ] && echo "$dir/tls/ca.pem" )
MYSQL_WRONG_CA=$( [ $notls -eq 0 ] && echo "$dir/tls/wrong-ca.pem" )
MYSQL_DATABASE=bqtest
MYSQL_ROOT_USER=root
MYSQL_PW_USER=bq_pw
MYSQL_PW_PASSWORD=$pw_pw
MYSQL_TLS_USER=bq_tls
MYSQL_TLS_PASSWORD=$tls_pw
MYSQL_IAM_USER=bq_iam
MYSQL_IAM_REGION=$REGION
AWS_ACCESS_KEY_ID_IAM_TEST=$IAM_AKID
AWS_SECRET_ACCESS_KEY_IAM_TEST=$IAM_SECRET
AWS_ACCESS_KEY_ID_IAM_TEST_TEMP=$IAM_TEMP_AKID
AWS_SECRET_ACCESS_KEY_IAM_TEST_TEMP=$IAM_TEMP_SECRET
AWS_SESSION_TOKEN_IAM_TEST_TEMP=$IAM_TEMP_SESSION_TOKEN
MYSQL_IAM_PAM_SERVICE=$svc
MYSQL_IAM_SECRETS=$secrets
MYSQL_IAM_VERIFIER=$dir/rds_token_verifier.py
MYSQL_IAM_VERIFIER_LOG=$dir/verifier.log
MYSQL_ERROR_LOG=$dir/mariadbd.log
EOF
    mv "$dir/env.tmp" "$dir/env"
    log "ready: 127.0.0.1:$port pid $pid tls=$((1 - notls)) in $((SECONDS - t0)) s (env: $dir/env)"
}

stop_server() {
    local dir=$1 pid=""
    [ -f "$dir/server.pid" ] && pid=$(cat "$dir/server.pid")
    if [ -n "$pid" ] && is_our_server "$pid" "$dir"; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 200; i++)); do
            is_our_server "$pid" "$dir" || break
            # Reap it if it is our child (start's failure path); harmless otherwise.
            sleep 0.1
        done
        if is_our_server "$pid" "$dir"; then
            log "mariadbd $pid did not stop within 20 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do is_our_server "$pid" "$dir" || break; sleep 0.1; done
        fi
    fi
    if [ -f "$dir/pam-service" ]; then
        local svc
        svc=$(cat "$dir/pam-service")
        [[ "$svc" == "$PAM_PREFIX"* && "$svc" != */* ]] && rm -f "/etc/pam.d/$svc"
    fi
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    [ -d "$1" ] || die "no such directory: $1"
    local dir
    dir=$(cd "$1" && pwd -P)
    stop_server "$dir"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local dir
    dir=$(cd "$1" && pwd -P)
    if [ -f "$dir/server.pid" ] && is_our_server "$(cat "$dir/server.pid")" "$dir"; then
        echo "running (pid $(cat "$dir/server.pid"))"
    else
        echo "stopped"; return 1
    fi
}

[ $# -ge 1 ] || usage
sub=$1; shift
case "$sub" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
