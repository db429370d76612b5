# Sourced by the test-server scripts (mariadb-test-server.sh, s3-test-server.sh).
# gen_tls DIR: a private CA (DIR/ca.pem), a second CA with the same subject
# DN and another key (DIR/wrong-ca.pem), and a server certificate for
# 127.0.0.1 / localhost signed by the first (DIR/server-cert.pem,
# DIR/server-key.pem). Needs openssl and a die() from the caller.
gen_tls() {
    local t=$1
    mkdir -p "$t"
    local ca_ext="basicConstraints=critical,CA:TRUE"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$t/ca-key.pem" -out "$t/ca.pem" -subj "/O=bqlua tests/CN=bqlua test CA" \
        -addext "$ca_ext" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    # Same subject DN as the right CA, other key: a client must check the
    # signature, not just the issuer's name.
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$t/wrong-ca-key.pem" -out "$t/wrong-ca.pem" -subj "/O=bqlua tests/CN=bqlua test CA" \
        -addext "$ca_ext" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$t/server-key.pem" -out "$t/server.csr" \
        -subj "/O=bqlua tests/CN=localhost" 2>/dev/null
    cat > "$t/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -sha256 -days 825 -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$t/server.ext" -out "$t/server-cert.pem" 2>/dev/null
    openssl verify -CAfile "$t/ca.pem" "$t/server-cert.pem" >/dev/null || die "generated server certificate does not verify"
    if openssl verify -CAfile "$t/wrong-ca.pem" "$t/server-cert.pem" >/dev/null 2>&1; then
        die "server certificate verifies against the wrong CA"
    fi
    chmod 600 "$t"/*-key.pem
    rm -f "$t/server.csr"
}
