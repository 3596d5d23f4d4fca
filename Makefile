# Gatehouse. `make test` is the whole suite (it starts or installs
# PostgreSQL and Redis first); `make bench` prints the proxy figures.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test test-unit bench soak vet lint fmt conformance fuzz

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -ldflags "$(LDFLAGS)" -o bin/gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse

test:
	bash scripts/test.sh

# The fast tests (-short: no end-to-end stacks), for iteration. Store and
# session tests still run against Postgres and Redis when they answer.
test-unit:
	$(GO) test -short -count=1 ./...

bench:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bash scripts/services.sh
	$(GO) run ./bench

# Each fuzz target for FUZZTIME (go test runs their seed corpora anyway).
# A failing input is written to the package's testdata/fuzz/<target>/:
# keep it there, as a regression seed, with the fix.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	FuzzNormalisePath:./gateway/engine \
	FuzzHeaderCheck:./gateway/engine \
	FuzzSafeRedirect:./gateway/auth \
	FuzzCredentials:./gateway/auth \
	FuzzListParams:./gateway/adminapi \
	FuzzParse:./config

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# A bounded soak: logins, cookie, bearer and public requests and abandoned
# keep-alive connections against one Gatehouse; prints 5xx, RSS and
# goroutines over time. SOAK_FLAGS passes more (e.g. -idle 5000).
SOAK_DURATION ?= 3m
SOAK_FLAGS ?=
soak:
	bash scripts/services.sh
	$(GO) run ./bench/soak -d $(SOAK_DURATION) $(SOAK_FLAGS)

vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

# gofmt, go vet and staticcheck (installed on first use).
lint: vet
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

# A black-box contract suite kept outside the repository: make conformance CONFORMANCE=DIR
CONFORMANCE ?=
conformance:
	@test -n "$(CONFORMANCE)" || (echo "set CONFORMANCE to the contract suite's directory"; exit 2)
	cd "$(CONFORMANCE)" && $(GO) run . -project "$(CURDIR)"

# Refreshes docs/screenshots/ (the pages as docs/pages.md shows them) from
# the browser tests; scripts/screenshots.sh lists which.
.PHONY: screenshots
screenshots:
	bash scripts/screenshots.sh
