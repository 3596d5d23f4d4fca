#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres without a password)
# and Redis (127.0.0.1:6379) answer, starting them, or installing them with
# apt-get on a Debian machine that lacks them. Used by `make test`.
set -uo pipefail

log() { echo "services: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null; then log "apt-get not found: install $* yourself"; return 1; fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}

pg_answers() { command -v psql >/dev/null && psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; }

ensure_postgres() {
  if pg_answers; then return 0; fi
  local installed=""
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing postgresql"
    apt_install postgresql postgresql-client || { log "could not install postgresql"; return 1; }
    installed=1
  fi
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -z "$ver" ]; then log "no postgresql cluster found"; return 1; fi
  if [ -n "$installed" ] || ! grep -qE '^host\s+all\s+all\s+127.0.0.1/32\s+trust' "/etc/postgresql/$ver/main/pg_hba.conf"; then
    # Tests connect as postgres over TCP without a password.
    if [ -n "$installed" ]; then
      sed -i -E 's/^(host\s+all\s+all\s+(127.0.0.1\/32|::1\/128)\s+)\S+/\1trust/' "/etc/postgresql/$ver/main/pg_hba.conf"
    fi
  fi
  log "starting postgresql $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1 || as_root pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pg_answers && return 0; sleep 1; done
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
  for _ in $(seq 1 10); do pg_answers && return 0; sleep 1; done
  log "postgresql does not answer on 127.0.0.1:5432"
  return 1
}

ensure_redis() {
  if tcp_open 6379; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server"
    apt_install redis-server || { log "could not install redis-server"; return 1; }
  fi
  log "starting redis-server"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do tcp_open 6379 && return 0; sleep 0.5; done
  log "redis does not answer on 127.0.0.1:6379"
  return 1
}

rc=0
ensure_postgres || rc=1
ensure_redis || rc=1
if [ $rc -ne 0 ] && [ "${CI:-}" = "true" ]; then
  log "a server the tests need is missing (CI=true): failing"
  exit 1
fi
exit 0
