#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes a throwaway PKI for the Redis TLS tests in directory $1 with the
# openssl command line: a test CA, a second CA nobody trusts, a server
# certificate for "localhost" (DNS name only, no IP address), one for
# "other.example", a client certificate, and one server certificate from the
# untrusted CA. Keys are unencrypted; everything lives for two days.
set -eu
d=$1
cd "$d"
q() { "$@" >/dev/null 2>&1 || { echo "make_test_ca: $* failed" >&2; exit 1; }; }

ca() { # name CN
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 2 \
    -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
}
leaf() { # name CA CN ext
  q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf '%s\n' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" \
    -days 2 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}

ca ca "xacct test CA"
ca other-ca "untrusted test CA"
leaf server ca localhost "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
leaf server-other ca other.example "subjectAltName=DNS:other.example
extendedKeyUsage=serverAuth"
leaf server-untrusted other-ca localhost "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca xacctd "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
