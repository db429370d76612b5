# Sourced by the scripts: installs missing Debian packages (as root).
#   bq_require_packages PKG...   installs those not installed; fails clearly when not root

BQ_BUILD_PACKAGES=(gcc meson ninja-build pkg-config liblua5.4-dev libcurl4-openssl-dev libssl-dev
                   libmariadb-dev libexpat1-dev libjson-c-dev)

bq_require_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
        return 1
    fi
    echo "installing ${missing[*]}" >&2
    # Installing mariadb-server must not start the system's server: the scripts start their own.
    local policy=/usr/sbin/policy-rc.d created=0 rc
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && created=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    rc=$?
    [ $created = 1 ] && rm -f $policy
    [ $rc = 0 ] || echo "apt-get install ${missing[*]} failed" >&2
    return $rc
}
