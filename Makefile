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

APT_PACKAGES := iproute2 nftables prometheus prometheus-alertmanager hey libxml2-utils chromium poppler-utils containerd runc containernetworking-plugins iptables
SUITES := functional integration dr performance

.PHONY: all deps fixtures images build k6 k6-image kube kube-crds drill test unit suites bench schema schema-check fuzz clean

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

## k6-image: aiuptime/k6:dev, FROM scratch with bin/k6 at /usr/bin/k6 (entrypoint),
## for the runner pods of k6run/kube's indexed Job (no registry: imagePullPolicy Never).
k6-image: k6
	@ctx=$$(mktemp -d); cp $(BIN)/k6 $$ctx/k6; \
	printf 'FROM scratch\nCOPY k6 /usr/bin/k6\nENTRYPOINT ["/usr/bin/k6"]\n' > $$ctx/Dockerfile; \
	docker build -q -t aiuptime/k6:dev $$ctx >/dev/null || { rm -rf $$ctx; exit 1; }; \
	rm -rf $$ctx; echo "built aiuptime/k6:dev"

## kube: the local Kubernetes cluster's binaries (kube/local, `drill kube up`):
## etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, and the
## real-node tier's kubelet and kube-proxy, with
## kwok's default Stage YAMLs (kwok-stages.yaml, from the kwok module). Built
## from the pinned modules in third_party/kube once per version into
## $(KUBE_CACHE), which survives `make clean`, and linked into bin/kube/.
## A cold build took 9m43s wall, 14 CPU-minutes on 2 cores (Go 1.26.8), 400 MB of
## binaries; a warm one 0.1 s. `make test` builds them (kube/local's tests bring a
## cluster up and down); a test run by hand without them skips, naming `make kube`.
## It runs kube-crds first (the Chaos Mesh CRDs, below).
KUBE_VERSION := v1.37.2
ETCD_VERSION := v3.6.16
KWOK_VERSION := v0.8.0
KUBE_CACHE ?= $(HOME)/.cache/aiuptime/kube/$(KUBE_VERSION)-etcd$(ETCD_VERSION:v%=%)-kwok$(KWOK_VERSION:v%=%)
KUBE_FILES := etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwok-stages.yaml kubelet kube-proxy
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean
# kwok's default stages, as kwokctl assembles them: fast node init, node
# heartbeat with a lease, fast pod ready/complete/delete.
KWOK_STAGES := node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml

kube: kube-crds
	@set -eo pipefail; cd third_party/kube; \
	for m in "k8s.io/kubernetes $(KUBE_VERSION)" "sigs.k8s.io/kwok $(KWOK_VERSION)"; do \
	  set -- $$m; v=$$($(GO) list -m -f '{{.Version}}' $$1); \
	  [ "$$v" = "$$2" ] || { echo "third_party/kube/go.mod has $$1 $$v, the Makefile says $$2"; exit 1; }; \
	done; \
	v=$$(cd cmd/etcd && $(GO) list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3); \
	[ "$$v" = "$(ETCD_VERSION)" ] || { echo "third_party/kube/cmd/etcd/go.mod has etcd $$v, the Makefile says $(ETCD_VERSION)"; exit 1; }; \
	missing=""; for f in $(KUBE_FILES); do [ -s "$(KUBE_CACHE)/$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "building$$missing into $(KUBE_CACHE) (cold: tens of CPU-minutes)"; \
	  mkdir -p "$$(dirname "$(KUBE_CACHE)")"; tmp=$$(mktemp -d "$(KUBE_CACHE).build.XXXXXX"); \
	  trap 'rm -rf "$$tmp"' EXIT; start=$$(date +%s); \
	  $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o "$$tmp/" \
	    ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kwok \
	    ./cmd/kubelet ./cmd/kube-proxy; \
	  (cd cmd/etcd && $(GO) build -trimpath -ldflags "-s -w" -o "$$tmp/etcd" .); \
	  kwok=$$($(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok); \
	  for s in $(KWOK_STAGES); do echo "---"; cat "$$kwok/kustomize/stage/$$s"; done > "$$tmp/kwok-stages.yaml"; \
	  secs=$$(( $$(date +%s) - start )); \
	  { echo "built $$(date -u +%FT%TZ) in $$secs s wall ($$(nproc) CPUs), $(KUBE_VERSION) etcd $(ETCD_VERSION) kwok $(KWOK_VERSION), $$($(GO) env GOVERSION)"; \
	    for f in $(KUBE_FILES); do echo "$$(stat -c %s "$$tmp/$$f") $$f"; done; } > "$$tmp/BUILD"; \
	  mkdir -p "$(KUBE_CACHE)"; for f in $(KUBE_FILES) BUILD; do mv -f "$$tmp/$$f" "$(KUBE_CACHE)/$$f"; done; \
	  cat "$(KUBE_CACHE)/BUILD"; \
	fi
	@mkdir -p $(BIN)/kube
	@for f in $(KUBE_FILES); do ln -sfn "$(KUBE_CACHE)/$$f" "$(BIN)/kube/$$f"; done
	@echo "bin/kube -> $(KUBE_CACHE)"

## kube-crds: the Chaos Mesh CRDs (kube/local.InstallCRDs), which the
## chaos-mesh/api module does not ship: controller-gen from the module pinned
## in third_party/chaosmesh, run from that module on the chaos-mesh/api
## packages, so that the Kubernetes types the CRDs embed are the cluster's
## own (k8s 0.37.2; the API module's go.mod says 0.35.3, whose schemas lack
## fields such as a port's protocol). controller-gen is built once into
## $(KUBE_TOOLS_CACHE); the CRDs go into $(CHAOSMESH_CRDS_CACHE), keyed by both
## versions, skipped when present, and linked as bin/kube/chaos-mesh-crds.
## Cold (empty Go build cache, modules downloaded, 2 cores): 104 s wall, 97 s
## of it building controller-gen (25 MB); generating 23 CRDs (3.1 MB of YAML,
## WorkflowNode's 1.3 MB the largest) 3-7 s. Warm: 0.1 s.
CHAOSMESH_API := github.com/chaos-mesh/chaos-mesh/api
CHAOSMESH_API_VERSION := v0.0.0-20260906172039-d70b66ad97ac
CONTROLLER_TOOLS_VERSION := v0.23.0
CHAOSMESH_CRDS := 23
KUBE_TOOLS_CACHE ?= $(HOME)/.cache/aiuptime/kube/tools
CHAOSMESH_CRDS_CACHE ?= $(KUBE_CACHE)/chaos-mesh-crds-$(CHAOSMESH_API_VERSION)-controller-tools$(CONTROLLER_TOOLS_VERSION:v%=%)-k8s$(KUBE_VERSION:v1.%=0.%)

kube-crds:
	@set -eo pipefail; cd third_party/chaosmesh; \
	for m in "$(CHAOSMESH_API) $(CHAOSMESH_API_VERSION)" "sigs.k8s.io/controller-tools $(CONTROLLER_TOOLS_VERSION)"; do \
	  set -- $$m; v=$$($(GO) list -m -f '{{.Version}}' $$1); \
	  [ "$$v" = "$$2" ] || { echo "third_party/chaosmesh/go.mod has $$1 $$v, the Makefile says $$2"; exit 1; }; \
	done; \
	n=$$({ ls "$(CHAOSMESH_CRDS_CACHE)"/*.yaml 2>/dev/null || true; } | wc -l); \
	if [ "$$n" != "$(CHAOSMESH_CRDS)" ]; then \
	  gen="$(KUBE_TOOLS_CACHE)/controller-gen-$(CONTROLLER_TOOLS_VERSION)"; start=$$(date +%s); \
	  if [ ! -x "$$gen" ]; then \
	    echo "building controller-gen $(CONTROLLER_TOOLS_VERSION) into $(KUBE_TOOLS_CACHE)"; mkdir -p "$(KUBE_TOOLS_CACHE)"; \
	    $(GO) build -trimpath -ldflags "-s -w" -o "$$gen.tmp" sigs.k8s.io/controller-tools/cmd/controller-gen; \
	    mv -f "$$gen.tmp" "$$gen"; \
	  fi; \
	  built=$$(( $$(date +%s) - start )); \
	  echo "generating the Chaos Mesh CRDs into $(CHAOSMESH_CRDS_CACHE)"; \
	  mkdir -p "$(KUBE_CACHE)"; tmp=$$(mktemp -d "$(CHAOSMESH_CRDS_CACHE).build.XXXXXX"); \
	  trap 'rm -rf "$$tmp"' EXIT; \
	  "$$gen" crd paths=$(CHAOSMESH_API)/... output:crd:dir="$$tmp"; \
	  n=$$(ls "$$tmp"/*.yaml | wc -l); \
	  [ "$$n" = "$(CHAOSMESH_CRDS)" ] || { echo "controller-gen wrote $$n CRDs, want $(CHAOSMESH_CRDS)"; exit 1; }; \
	  secs=$$(( $$(date +%s) - start )); \
	  { echo "generated $$(date -u +%FT%TZ) in $$secs s wall (controller-gen build $$built s), $(CHAOSMESH_API) $(CHAOSMESH_API_VERSION), controller-gen $(CONTROLLER_TOOLS_VERSION) ($$(stat -c %s "$$gen") bytes), $$($(GO) env GOVERSION)"; \
	    echo "$$n CRDs, $$(cat "$$tmp"/*.yaml | wc -c) bytes"; \
	    for f in "$$tmp"/*.yaml; do echo "$$(stat -c %s "$$f") $$(basename "$$f")"; done; } > "$$tmp/BUILD"; \
	  rm -rf "$(CHAOSMESH_CRDS_CACHE)"; mv "$$tmp" "$(CHAOSMESH_CRDS_CACHE)"; chmod 755 "$(CHAOSMESH_CRDS_CACHE)"; \
	  head -2 "$(CHAOSMESH_CRDS_CACHE)/BUILD"; \
	fi
	@mkdir -p $(BIN)/kube
	@ln -sfn "$(CHAOSMESH_CRDS_CACHE)" "$(BIN)/kube/chaos-mesh-crds"
	@echo "bin/kube/chaos-mesh-crds -> $(CHAOSMESH_CRDS_CACHE)"

## drill: the main job — the quarterly DR drill on the embedded stack.
drill: deps build fixtures
	@mkdir -p reports/out
	$(BIN)/drill run plans/quarterly-dr.yaml --out reports/out

## test: every test — unit tests, fuzz seeds, and every Ginkgo suite.
test: deps build fixtures k6 kube unit suites

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
