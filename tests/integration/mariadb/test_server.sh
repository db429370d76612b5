#!/usr/bin/env bash
# TAP test of scripts/mariadb-test-server.sh (see test_server.py). Needs root,
# Debian's /usr/bin/python3 with botocore and pymysql, and mariadb-server;
# the server script installs missing packages when run as root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -x /usr/bin/python3 ]; then
    echo "1..1"; echo "not ok 1 - /usr/bin/python3 not found"; exit 1
fi
exec /usr/bin/python3 "$here/test_server.py" "$@"
