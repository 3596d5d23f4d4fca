#!/usr/bin/env bash
# Makes sure the forward-auth recipe tests (cmd/gatehouse/app/recipes_test.go)
# have Debian's nginx (with auth_request) and Caddy, installing them with
# apt-get when absent (bookworm: nginx 1.22.1, caddy 2.6.2). The tests run
# them as their own processes on high ports; the packages' services are not
# needed. curl too: the tests run docs/oidc-provider.md's commands as written. Used by `make test`; with CI=true a missing one fails here, and
# with GATEHOUSE_REQUIRE_SERVERS=1 the tests fail instead of skipping.
set -uo pipefail

log() { echo "proxies: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null; then log "apt-get not found: install $* yourself"; return 1; fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}

have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }

rc=0
if ! have nginx; then
  log "installing nginx"
  apt_install nginx-light || apt_install nginx || { log "could not install nginx"; rc=1; }
fi
if ! have caddy; then
  log "installing caddy"
  apt_install caddy || { log "could not install caddy"; rc=1; }
fi

if ! have curl; then
  log "installing curl"
  apt_install curl || { log "could not install curl"; rc=1; }
fi

if [ $rc -ne 0 ] && [ "${CI:-}" = "true" ]; then
  log "what the recipe tests need is missing (CI=true): failing"
  exit 1
fi
exit 0
