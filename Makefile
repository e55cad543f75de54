# Pixiu — the two front-door commands are `make run` and `make test`.
GO ?= go
NPM ?= npm

.PHONY: run build test test-go test-e2e test-browser bench deps-js vet

run: deps-js ## run the server with the demo on :6001 (default dev app)
	$(GO) run ./cmd/pixiu serve

build:
	$(GO) build -o bin/pixiu ./cmd/pixiu
	$(GO) build -o bin/pixiu-bench ./cmd/pixiu-bench

deps-js: ## install pinned JS dependencies (pusher-js for the demo, test clients)
	@if [ -f package-lock.json ]; then $(NPM) ci --no-audit --no-fund --silent; fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

test: vet test-go test-e2e test-browser ## every test: Go (race) + conformance suite with the official clients

test-go:
	$(GO) test -race -count=1 ./...

test-e2e: build
	cd e2e && $(NPM) ci --no-audit --no-fund --silent && PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) test

test-browser: build deps-js ## the demo end to end in headless Chromium (Debian's chromium package)
	PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) run test:browser

bench: ## Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
