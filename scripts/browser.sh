#!/usr/bin/env bash
# Makes sure the browser tests have what they need: Debian's chromium
# (/usr/bin/chromium) and axe-core, pinned in tools/browser/package-lock.json
# and installed with npm ci into tools/browser/node_modules. Installs
# chromium, nodejs and npm with apt-get when absent. Used by `make test`;
# `make test-unit` needs neither (the browser tests skip under -short).
set -uo pipefail
cd "$(dirname "$0")/.."

log() { echo "browser: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null; then log "apt-get not found: install $* yourself"; return 1; fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}

rc=0
if [ -z "${GATEHOUSE_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing chromium"
  apt_install chromium || { log "could not install chromium"; rc=1; }
fi

if [ ! -f tools/browser/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null; then
    log "installing nodejs and npm"
    apt_install nodejs npm || { log "could not install npm"; rc=1; }
  fi
  if command -v npm >/dev/null; then
    log "installing axe-core (npm ci --prefix tools/browser)"
    npm ci --prefix tools/browser --no-audit --no-fund --loglevel=error >/dev/null 2>&1 \
      || { log "npm ci --prefix tools/browser failed"; rc=1; }
  fi
fi

if [ $rc -ne 0 ] && [ "${CI:-}" = "true" ]; then
  log "what the browser tests need is missing (CI=true): failing"
  exit 1
fi
exit 0
