# exportguard: `make run` replays the sample session; `make test` runs every test.
GO       ?= go
NPM      ?= npm
COSMOS_PORT ?= 3000
BIN      := bin/exportguard
SESSION  ?= testdata/sessions/storage-replication.ndjson
FUZZTIME ?= 10000x
DIST     ?= dist
FUNC     ?= func
# staticcheck, pinned; go run fetches and builds it (module cache) the first time
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Every fuzz target, as package:Target.
FUZZ_TARGETS := \
	./pkg/activitylog:FuzzDecode \
	./pkg/eventgrid:FuzzDecode \
	./pkg/functions:FuzzEnvelope \
	./pkg/functions:FuzzAPIRequest \
	./pkg/functions:FuzzEventGridWebhook \
	./pkg/functions:FuzzEventHubInvocation \
	./pkg/session:FuzzParseLine \
	./pkg/session:FuzzEncodeParse \
	./pkg/policyfile:FuzzParse \
	./internal/fastjson:FuzzUnmarshalMatchesStdlib \
	./internal/fastjson:FuzzUnquoteMatchesStdlib \
	./pkg/activitylog:FuzzWireStructsMatchStdlib \
	./pkg/eventgrid:FuzzWireStructsMatchStdlib \
	./pkg/functions:FuzzWireStructsMatchStdlib \
	./pkg/rules:FuzzBodiesMatchStdlib \
	./pkg/customrule:FuzzDecodeMatchesStdlib \
	./pkg/customrule:FuzzDecodePathsMatchesPruned

.PHONY: all build run test vet lint unit fuzz bench package func clean cosmos chromium

all: build

## build: -buildvcs=auto stamps the commit that --version prints whenever git is there (a GOFLAGS
## of -buildvcs=false in the environment would otherwise leave it "unknown")
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) .

## run: build, replay the sample session with the default policy, print the findings
run: build
	./$(BIN) replay $(SESSION)

## test: everything CI checks
test: node_modules/.installed chromium vet lint unit fuzz

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

## lint: staticcheck (pinned above) over the module; a finding that is wrong for this code
## carries a //lint:ignore CHECK with its reason where it is
lint:
	$(GO) run $(STATICCHECK) ./...

unit: node_modules/.installed chromium
	$(GO) test -count=1 ./...

## node_modules: the Cosmos DB-compatible server pkg/cosmos tests run against,
## installed exactly as package-lock.json pins it (again when the lock changes)
node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

## chromium: Debian's chromium, in which TestReportAndDashboardInChromium (internal/cli/report_e2e_test.go) opens the
## report and the live dashboard through playwright-core (package.json). Installed with apt-get when
## missing and make runs as root; otherwise this says why that test will fail (it fails, it does not skip).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's chromium for the browser test"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	else \
		echo "make: /usr/bin/chromium is missing and make cannot install it (not root, or no apt-get):" >&2; \
		echo "  TestReportAndDashboardInChromium will fail. As root: apt-get install --no-install-recommends chromium" >&2; \
	fi

## cosmos: that server in the foreground on http://127.0.0.1:$(COSMOS_PORT)/ (plain http, loopback only;
## in memory: gone when stopped). Any base64 COSMOS_KEY is accepted.
cosmos: node_modules/.installed
	@echo "store URL: cosmos:http://127.0.0.1:$(COSMOS_PORT)/?database=exportguard&ensureContainers=true"
	@echo "key:       COSMOS_KEY=$$(printf local | base64)   (the server checks none)"
	node pkg/cosmos/testdata/cosmosdb-server.js --no-ssl --host 127.0.0.1 -p $(COSMOS_PORT)

## fuzz: each fuzz target briefly (FUZZTIME each: a count of inputs, not seconds, so a busy machine
## slows it down instead of failing it with "context deadline exceeded")
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

## faults: the fault tests in full (internal/cli/faults_*_test.go): many SIGKILLs of a replay of a large session
## (EXPORTGUARD_FAULTS_SEED picks the draw), Cosmos DB throttled and unavailable for longer, hostile
## bodies at the handler. make test runs their short versions.
.PHONY: faults
faults: node_modules/.installed
	EXPORTGUARD_FAULTS=full $(GO) test -count=1 -timeout 60m -v -run '^TestFault' ./internal/cli ./internal/faultproxy

## bench: the benchmark driver (bench/, a module of its own so that OPA stays out of go.mod):
## generated workloads through the pipeline, the embedded store, the HTTP handler, OPA and a
## plain decode; prints the table and writes bench/results.json. Go benchmarks of the hot
## paths: cd bench && go test -run '^$$' -bench . -benchmem
bench:
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./... && $(GO) run ./cmd/egbench -o results.json

## package: stage host.json, the function folders and the linux/amd64 binary in $(DIST) for `func start`
## (DIST=DIR stages elsewhere; package_test.go does, and checks what the host will find)
package:
	@case "$(DIST)" in ""|/|.|..) echo "DIST=$(DIST): give a directory of its own to stage in"; exit 1;; esac
	rm -rf $(DIST) && mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -buildvcs=auto -o $(DIST)/exportguard .
	cp host.json $(DIST)/
	cp -r functions/* $(DIST)/
	@[ -f local.settings.json ] && cp local.settings.json $(DIST)/ || cp local.settings.sample.json $(DIST)/local.settings.json
	@echo "$(DIST)/ is ready: cd $(DIST) && func start"

## func: package, then run the app under the Functions Core Tools (func start in $(DIST)), when they are installed
func:
	@command -v $(FUNC) >/dev/null 2>&1 || { \
		echo "make func: the Azure Functions Core Tools ($(FUNC)) are not installed: this machine cannot run the app under the Functions host."; \
		echo "  Install version 4: https://learn.microsoft.com/azure/azure-functions/functions-run-local"; \
		echo "  (npm install -g azure-functions-core-tools@4, or the package for your OS; the npm installer downloads the host"; \
		echo "  from a Microsoft CDN, which must be reachable)."; \
		echo "  Meanwhile: make package stages $(DIST)/ for a machine that has them, and exportguard serve --port N runs the handler alone."; \
		exit 1; } >&2
	$(MAKE) package DIST=$(DIST)
	cd $(DIST) && $(FUNC) start

clean:
	rm -rf bin dist
