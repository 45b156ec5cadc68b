# aiuptime — build, test and drill.
#
# Newcomers need two commands: `make drill` (the main job on the embedded
# stack) and `make test` (every test). Everything else is a building block.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export CGO_ENABLED ?= 0
export TESTCONTAINERS_RYUK_DISABLED := true
# Suites find the fixture binaries and images through these.
export AIUPTIME_BIN := $(BIN)

APT_PACKAGES := iproute2 nftables prometheus prometheus-alertmanager hey libxml2-utils chromium poppler-utils
SUITES := functional integration dr performance

.PHONY: all deps fixtures images build k6 drill test unit suites bench schema schema-check fuzz clean

all: build fixtures

## deps: install the Debian packages the tests and drills use (idempotent).
## Packages just installed may start system services; they are stopped, as the
## harness runs its own Prometheus and Alertmanager on free ports.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  systemctl stop prometheus prometheus-alertmanager prometheus-node-exporter >/dev/null 2>&1 || true; \
	fi

## fixtures: static binaries of the stand-in programs.
fixtures:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/aiuptime-modelserver ./fixtures/modelserver/cmd/aiuptime-modelserver
	$(GO) build -trimpath -o $(BIN)/nvidia-smi ./fixtures/modelserver/cmd/nvidia-smi
	$(GO) build -trimpath -o $(BIN)/aiuptime-gateway ./fixtures/gateway/cmd/aiuptime-gateway
	$(GO) build -trimpath -o $(BIN)/toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server

## images: FROM-scratch images of the fixtures (no registry needed).
images: fixtures
	@for f in modelserver gateway toxiproxy; do \
	  ctx=$$(mktemp -d); cp $(BIN)/* $$ctx/ ; \
	  docker build -q -f fixtures/$$f/Dockerfile -t aiuptime/$$f:dev $$ctx >/dev/null || { rm -rf $$ctx; exit 1; }; \
	  rm -rf $$ctx; echo "built aiuptime/$$f:dev"; \
	done

## build: the drill CLI at bin/drill.
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/drill ./cmd/drill

## k6: k6 with the xk6-aiuptime extension at bin/k6.
k6:
	@mkdir -p $(BIN)
	cd xk6-aiuptime && $(GO) build -trimpath -o $(BIN)/k6 ./cmd/k6

## drill: the main job — the quarterly DR drill on the embedded stack.
drill: deps build fixtures
	@mkdir -p reports/out
	$(BIN)/drill run plans/quarterly-dr.yaml --out reports/out

## test: every test — unit tests, fuzz seeds, and every Ginkgo suite.
test: deps build fixtures k6 unit suites

unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /suites/)
	cd xk6-aiuptime && $(GO) vet ./... && $(GO) test -count=1 ./...

suites:
	@mkdir -p reports/junit
	$(GO) tool ginkgo -r --keep-going --timeout=60m --junit-report=junit.xml --output-dir=reports/junit ./suites

## bench: speed and memory, side by side in one run (ratios).
bench: build fixtures k6
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: fuzz the whole validation path (plan -> fault params -> stack
## resolution) for 2 minutes; not part of `make test`, which runs the seeds.
fuzz:
	$(GO) test ./drill/plan -run '^$$' -fuzz FuzzValidate -fuzztime 2m

## schema: regenerate plans/schema.json from the Go types.
schema:
	$(GO) run ./cmd/drill schema > plans/schema.json

schema-check:
	@$(GO) run ./cmd/drill schema | diff -u plans/schema.json - || { echo "plans/schema.json is stale: run make schema"; exit 1; }

clean:
	rm -rf $(BIN) reports/out reports/junit
