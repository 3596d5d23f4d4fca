#!/usr/bin/env bash
# Makes sure helm v4 is there for the Helm chart tests (deploy/deploy_test.go):
# when no helm v4 is on PATH or in $(go env GOPATH)/bin, it builds one with
# `go install` through the Go module proxy (helm.sh/helm/v4, pinned below;
# a few minutes on 2 cores, once: the binary stays in $(go env GOPATH)/bin).
# Used by `make test`; with CI=true a failed install fails here, and with
# GATEHOUSE_REQUIRE_SERVERS=1 the chart tests fail instead of skipping.
set -uo pipefail

HELM_VERSION=v4.3.2

log() { echo "helm: $*" >&2; }

# is_v4 BIN: BIN runs and reports a v4 version.
is_v4() { "$1" version --short 2>/dev/null | grep -q '^v4\.'; }

gobin="$(go env GOPATH)/bin"
if command -v helm >/dev/null && is_v4 "$(command -v helm)"; then
  exit 0
fi
if [ -x "$gobin/helm" ] && is_v4 "$gobin/helm"; then
  exit 0
fi

log "installing helm $HELM_VERSION with go install (builds from source; a few minutes)"
start=$(date +%s)
if (cd "${TMPDIR:-/tmp}" && GOFLAGS=-buildvcs=false go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"); then
  log "installed $gobin/helm in $(( $(date +%s) - start ))s"
  exit 0
fi
log "could not install helm $HELM_VERSION"
if [ "${CI:-}" = "true" ]; then
  log "the Helm chart tests need helm (CI=true): failing"
  exit 1
fi
exit 0
