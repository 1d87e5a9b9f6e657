#!/bin/sh
# Writes the secrets compose.yaml reads, once (an existing file is kept): random passwords
# and keys as files under infra/compose/secrets/ (git ignores them), a password for every
# NATS user nats/accounts.conf and nats/cluster.conf name (SOUK_NATS_PASSWORD_<USER>, also
# as nats-passwords.env for the NATS servers), and a CA with a certificate for the NATS
# servers (openssl). For a trial on one machine: the files are readable by the containers'
# users (0444), which a production host would not allow (Kubernetes Secrets instead,
# docs/operations.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$here/secrets/tls"
cd "$here/secrets"
rand() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
[ -f postgres-password ] || rand > postgres-password
[ -f database-url ] || printf 'postgres://souk:%s@postgres:5432/souk?sslmode=disable' "$(cat postgres-password)" > database-url
[ -f secret-key ] || head -c 32 /dev/urandom | base64 > secret-key
[ -f meili-master-key ] || rand > meili-master-key
[ -f grafana-admin-password ] || rand > grafana-admin-password

rm -f nats-passwords.env
for ref in $(grep -oh '\$SOUK_NATS_PASSWORD_[A-Z0-9_]*' "$repo/nats/accounts.conf" "$repo/nats/cluster.conf" | sort -u); do
  var=${ref#\$}
  user=$(echo "${var#SOUK_NATS_PASSWORD_}" | tr 'A-Z_' 'a-z-')
  [ -f "nats-$user" ] || rand > "nats-$user"
  echo "$var=$(cat "nats-$user")" >> nats-passwords.env
done

if [ ! -f tls/ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=souk compose CA" \
    -keyout tls/ca.key -out tls/ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=nats" -keyout tls/tls.key -out tls/tls.csr 2>/dev/null
  printf 'subjectAltName=DNS:nats,DNS:nats-0,DNS:nats-1,DNS:nats-2,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > tls/ext.cnf
  openssl x509 -req -in tls/tls.csr -CA tls/ca.crt -CAkey tls/ca.key -CAcreateserial -days 825 \
    -extfile tls/ext.cnf -out tls/tls.crt 2>/dev/null
  rm -f tls/tls.csr tls/ext.cnf tls/ca.srl
fi
chmod 0444 ./* tls/*
echo "secrets written to $(pwd)"
