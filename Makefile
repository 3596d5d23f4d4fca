# Gatehouse. `make test` is the whole suite (it starts or installs
# PostgreSQL and Redis first); `make bench` prints the proxy figures.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test bench vet fmt conformance

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse

test:
	bash scripts/test.sh

bench:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bash scripts/services.sh
	$(GO) run ./bench

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

conformance:
	cd ../shared/conformance && $(GO) run . -project "$(CURDIR)"
