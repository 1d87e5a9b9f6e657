#!/bin/sh
# Writes the secrets compose.yaml reads, once: random passwords and keys as files under
# infra/compose/secrets/ (git ignores them), and the NATS users file with a user per service.
# For a trial on one machine: the files are readable by the containers' user (0444), which a
# production host would not allow (use Kubernetes Secrets, docs/operations.md).
set -eu
cd "$(dirname "$0")/secrets"
rand() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
[ -f postgres-password ] || rand > postgres-password
[ -f database-url ] || printf 'postgres://souk:%s@postgres:5432/souk?sslmode=disable' "$(cat postgres-password)" > database-url
[ -f secret-key ] || head -c 32 /dev/urandom | base64 > secret-key
[ -f meili-master-key ] || rand > meili-master-key
[ -f grafana-admin-password ] || rand > grafana-admin-password
users=""
for s in gateway user auth catalog inventory promotion cart order payment shipping notification; do
  [ -f "nats-$s" ] || rand > "nats-$s"
  users="$users      {user: $s, password: \"$(cat "nats-$s")\"}
"
done
cat > users.conf <<CONF
# Written by make-secrets.sh. Until nats/ ships the per-service permissions generated from
# the contract, every service user may use the whole SOUK account.
accounts {
  SOUK {
    jetstream: enabled
    users: [
$users    ]
  }
  SYS { users: [{user: sys, password: "$(rand)"}] }
}
system_account: SYS
CONF
chmod 0444 ./*
echo "secrets written to $(pwd)"
