# Pixiu — the two front-door commands are `make run` and `make test`.
GO ?= go
NPM ?= npm

.PHONY: run build binary embed-js release image tools test test-go test-e2e test-container test-browser bench deps-js vet compare

# What `pixiu version` (and the build-info metric) reports: injected into
# internal/buildinfo by -ldflags. Override on the command line
# (make release VERSION=v0.2.0); evaluated once per make run.
BUILDINFO := github.com/pixiu-io/pixiu/internal/buildinfo
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo dev)
endif
ifeq ($(origin COMMIT),undefined)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell test -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo -dirty)
endif
ifeq ($(origin BUILD_DATE),undefined)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
endif
LDFLAGS := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(BUILD_DATE)
# A static binary: no cgo (pure-Go DNS resolver and user lookup), no local paths.
GOBUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

# pusher-js goes into the binary from the pinned npm package (see
# internal/demo/pusherjs/README.md).
PUSHERJS := node_modules/pusher-js
PUSHERJS_EMBED := internal/demo/pusherjs
# PIXIU_OUT is where `make binary` writes the server (the tests build into a temp dir).
PIXIU_OUT ?= bin/pixiu

run: deps-js embed-js ## run the server with the demo on :6001 (default dev app)
	$(GO) run ./cmd/pixiu serve

build: binary ## bin/pixiu (static, version injected, pusher-js inside) and bin/pixiu-bench
	$(GOBUILD) -o bin/pixiu-bench ./cmd/pixiu-bench

binary: embed-js
	$(GOBUILD) -o $(PIXIU_OUT) ./cmd/pixiu

# embed-js copies pusher-js and its licences into the demo's embed directory
# (only files that changed, so the Go build cache stays warm). Without
# node_modules it warns and the binary carries no pusher-js (the demo then
# uses node_modules at run time, else the CDN, and logs which).
embed-js: node_modules/.package-lock.json
	@if [ -f $(PUSHERJS)/dist/web/pusher.min.js ]; then \
		set -e; \
		cmp -s $(PUSHERJS)/dist/web/pusher.min.js $(PUSHERJS_EMBED)/pusher.min.js || cp $(PUSHERJS)/dist/web/pusher.min.js $(PUSHERJS_EMBED)/pusher.min.js; \
		cmp -s $(PUSHERJS)/dist/web/pusher.min.js.LICENSE.txt $(PUSHERJS_EMBED)/pusher.min.js.LICENSE.txt || cp $(PUSHERJS)/dist/web/pusher.min.js.LICENSE.txt $(PUSHERJS_EMBED)/pusher.min.js.LICENSE.txt; \
		cmp -s $(PUSHERJS)/LICENCE $(PUSHERJS_EMBED)/pusher-js.LICENSE || cp $(PUSHERJS)/LICENCE $(PUSHERJS_EMBED)/pusher-js.LICENSE; \
		v=$$(node -p "require('./$(PUSHERJS)/package.json').version"); \
		[ "$$(cat $(PUSHERJS_EMBED)/VERSION 2>/dev/null)" = "$$v" ] || echo "$$v" > $(PUSHERJS_EMBED)/VERSION; \
	else \
		echo "warning: $(PUSHERJS) is not installed (run 'make deps-js'): the binary will not carry pusher-js;" \
			"the demo will load it from node_modules at run time if present, else from Pusher's CDN" >&2; \
	fi

# release builds static linux/amd64 and linux/arm64 archives into dist/:
# pixiu, README.md and licenses/ (pusher-js's; Go's and every linked Go
# module's LICENSE/NOTICE files under licenses/go/), plus SHA256SUMS.
RELEASE_PLATFORMS := linux/amd64 linux/arm64
release: deps-js embed-js
	@test -f $(PUSHERJS_EMBED)/pusher.min.js || { echo "release: pusher-js missing from $(PUSHERJS_EMBED)" >&2; exit 1; }
	rm -rf dist && mkdir -p dist/licenses/go
	cp "$$($(GO) env GOROOT)/LICENSE" dist/licenses/go/LICENSE
	set -e; GOOS=linux CGO_ENABLED=0 $(GO) list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Dir}}{{end}}{{end}}' ./cmd/pixiu | sort -u | \
	while read mod moddir; do \
		mkdir -p dist/licenses/go/$$mod; \
		find "$$moddir" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \) -exec cp {} dist/licenses/go/$$mod/ \; ; \
		[ -n "$$(ls dist/licenses/go/$$mod)" ] || { echo "release: no licence file in $$moddir" >&2; exit 1; }; \
	done
	set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=pixiu-$(VERSION)-$$os-$$arch; \
		mkdir -p dist/$$name/licenses; \
		GOOS=$$os GOARCH=$$arch $(GOBUILD) -o dist/$$name/pixiu ./cmd/pixiu; \
		cp README.md dist/$$name/; \
		cp $(PUSHERJS_EMBED)/pusher-js.LICENSE $(PUSHERJS_EMBED)/pusher.min.js.LICENSE.txt dist/$$name/licenses/; \
		cp -R dist/licenses/go dist/$$name/licenses/go; \
		tar -C dist --sort=name --owner=0 --group=0 --numeric-owner -czf dist/$$name.tar.gz $$name; \
		rm -rf dist/$$name; \
	done
	rm -rf dist/licenses
	cd dist && sha256sum *.tar.gz > SHA256SUMS && cat SHA256SUMS

# image builds the container image FROM scratch around bin/pixiu
# (deploy/container/Containerfile.local; nothing is pulled). The context is
# bin/image: the binary and the empty data directory the volume mounts on.
# CONTAINER=docker works too; IMAGE names the result.
CONTAINER ?= podman
IMAGE ?= pixiu:$(VERSION)
image: build ## the container image (podman or docker) from bin/pixiu
	rm -rf bin/image && mkdir -p bin/image/data && cp bin/pixiu bin/image/pixiu
	$(CONTAINER) build $(if $(filter podman buildah,$(notdir $(firstword $(CONTAINER)))),--format docker) \
		-f deploy/container/Containerfile.local -t $(IMAGE) bin/image

# make build installs the pinned npm packages when node_modules is missing or
# older than package-lock.json (npm writes node_modules/.package-lock.json on
# every install), so the binary carries pusher-js on a fresh clone too; without
# npm the build goes on and embed-js says where pages will load pusher-js from.
node_modules/.package-lock.json: package-lock.json
	-$(NPM) ci --no-audit --no-fund --silent

deps-js: ## install pinned JS dependencies (pusher-js for the demo, test clients)
	@if [ -f package-lock.json ]; then $(NPM) ci --no-audit --no-fund --silent; fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

test: vet deps-js test-go test-e2e test-container test-browser ## every test: Go (race) + conformance suite with the official clients

# tools installs the pinned helm the chart is linted with (deploy/deploy_test.go;
# keep HELM_VERSION in step with its HelmVersion), once: later runs reuse it.
HELM_VERSION := v4.3.2
HELM := bin/tools/helm-$(HELM_VERSION)/helm
tools: $(HELM)
$(HELM):
	GOBIN=$(CURDIR)/$(dir $(HELM)) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

test-go: embed-js tools
	$(GO) test -race -count=1 ./...

test-e2e: build
	cd e2e && $(NPM) ci --no-audit --no-fund --silent && PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) test
	@# Once more over TLS (Pixiu's own tls.cert_file): a CA made with openssl, wss:// and https:// clients.
	cd e2e && PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) run test-tls
	@# cluster.test.js again over Sentinel and over a Redis Cluster (e2e/lib/redistopo.js starts and stops them).
	cd e2e && PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) run test-topologies

# The image built, run, restarted and probed with podman (e2e/container/).
test-container: build
	cd e2e && $(NPM) ci --no-audit --no-fund --silent && PIXIU_BIN=$(CURDIR)/bin/pixiu node --test --test-timeout=600000 container/

test-browser: deps-js build ## the demo end to end in headless Chromium (Debian's chromium package)
	PIXIU_BIN=$(CURDIR)/bin/pixiu $(NPM) run test:browser

bench: ## Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# compare: Pixiu against soketi 1.6.1 on loopback, interleaved, medians and ratios
# (docs/PERFORMANCE.md); not part of `make test`. soketi is installed into .compare/ (ignored)
# from scripts/soketi/, whose npm override replaces soketi's uWebSockets.js (a Git tag that
# cannot be fetched, without a Node 20 build) with @trufflesuite/uws-js-unofficial.
# COMPARE_FLAGS="--rounds 1 --scenarios churn,publish --out runs.json" narrows a run.
COMPARE_FLAGS ?=
compare: build
	@mkdir -p .compare
	@if ! cmp -s scripts/soketi/package-lock.json .compare/package-lock.json || [ ! -f .compare/node_modules/@soketi/soketi/bin/server.js ]; then \
		cp scripts/soketi/package.json scripts/soketi/package-lock.json .compare/ && \
		cd .compare && $(NPM) ci --no-audit --no-fund --ignore-scripts; \
	fi
	bin/pixiu-bench compare --pixiu bin/pixiu --soketi .compare/node_modules/@soketi/soketi/bin/server.js $(COMPARE_FLAGS)
