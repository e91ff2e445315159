# exportguard: `make run` replays the sample session; `make test` runs every test.
GO       ?= go
NPM      ?= npm
COSMOS_PORT ?= 3000
BIN      := bin/exportguard
SESSION  ?= testdata/sessions/storage-replication.ndjson
FUZZTIME ?= 10000x

# Every fuzz target, as package:Target.
FUZZ_TARGETS := \
	./pkg/activitylog:FuzzDecode \
	./pkg/eventgrid:FuzzDecode \
	./pkg/functions:FuzzEnvelope \
	./pkg/replay:FuzzParseLine \
	./pkg/policy:FuzzParse

.PHONY: all build run test vet unit fuzz bench package clean cosmos

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) .

## run: build, replay the sample session with the default policy, print the findings
run: build
	./$(BIN) replay $(SESSION)

## test: everything CI checks
test: node_modules/.installed vet unit fuzz

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

unit: node_modules/.installed
	$(GO) test -count=1 ./...

## node_modules: the Cosmos DB-compatible server pkg/cosmos tests run against,
## installed exactly as package-lock.json pins it (again when the lock changes)
node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

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

## bench: benchmarks (timing goals live here, not in tests)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## package: stage host.json, the function folders and the linux/amd64 binary in dist/ for `func start`
package:
	rm -rf dist && mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o dist/exportguard .
	cp host.json dist/
	cp -r functions/* dist/
	@[ -f local.settings.json ] && cp local.settings.json dist/ || cp local.settings.sample.json dist/local.settings.json
	@echo "dist/ is ready: cd dist && func start"

clean:
	rm -rf bin dist
