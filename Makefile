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

APT_PACKAGES := iproute2 nftables prometheus prometheus-alertmanager hey libxml2-utils chromium poppler-utils containerd runc containernetworking-plugins iptables nlohmann-json3-dev libstb-dev docker-compose python3-scipy
SUITES := functional integration dr performance

.PHONY: all deps fixtures images build k6 k6-image kube kube-crds heavy drill test unit suites bench schema schema-check fuzz clean

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
	$(BIN)/drill run plans/quarterly-dr.yaml --now --out reports/out

## test: every test — unit tests, fuzz seeds, and every Ginkgo suite.
test: deps build fixtures heavy unit suites

## heavy: the builds cached by version (k6, the Kubernetes binaries, Ollama
## and its image, Caddy and its image), side by side: Ollama's cgo packages
## compile their C and C++ files one at a time, so the second core would
## otherwise idle through most of its build. Warm, each is a no-op.
heavy:
	@$(MAKE) --no-print-directory -j3 k6 kube ollama-image caddy-image

# The packages whose tests bring up a real node (kubelet, kube-proxy,
# containerd on this host). They run one package at a time, after the
# others: two clusters' kube-proxies program the same host's iptables, and
# both clusters hand out ClusterIPs from 10.96.0.0/16, so a Service of one
# can be answered by a pod of the other (TestDeployOnRealNode saw a 404
# from its gateway's ClusterIP while kube/local's tests ran beside it).
REALNODE_PKGS := ./kube/local ./kube/deploy ./stack/kubernetes ./backup/kube ./k6run/kube

unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /suites/ | grep -v -x -F $$($(GO) list $(REALNODE_PKGS) | sed 's/^/-e /'))
	$(GO) test -count=1 -p 1 $(REALNODE_PKGS)
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

## caddy: Caddy with its standard modules (what `xcaddy build` makes with no
## plugins) at bin/caddy, the L7 failover gateway of stacks/ollama-caddy.
## Built from the module pinned in third_party/caddy once per version into
## $(CADDY_CACHE), which survives `make clean`, static (CGO_ENABLED=0), with a
## BUILD file (wall seconds, size, Go version) next to it.
## A cold build (empty Go build cache, modules downloaded, 2 busy cores) took
## 470 s wall, 7.2 CPU-minutes (Go 1.26.8), a 58 MB binary (57729186 bytes,
## stripped); a warm one 0.1 s. Downloading the modules first took 44 s.
## caddy-image: aiuptime/caddy:$(CADDY_VERSION:v%=%), FROM scratch
## (fixtures/caddy/Dockerfile), labelled with the binary's sha256 and skipped
## when an image with that label exists.
CADDY_VERSION := v2.11.9
CADDY_CACHE ?= $(HOME)/.cache/aiuptime/caddy/$(CADDY_VERSION)
CADDY_IMAGE := aiuptime/caddy:$(CADDY_VERSION:v%=%)

.PHONY: caddy caddy-image

caddy:
	@set -eo pipefail; cd third_party/caddy; \
	v=$$($(GO) list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2); \
	[ "$$v" = "$(CADDY_VERSION)" ] || { echo "third_party/caddy/go.mod has caddy $$v, the Makefile says $(CADDY_VERSION)"; exit 1; }; \
	if [ ! -s "$(CADDY_CACHE)/caddy" ]; then \
	  echo "building caddy $(CADDY_VERSION) into $(CADDY_CACHE)"; \
	  mkdir -p "$(CADDY_CACHE)"; tmp=$$(mktemp -d "$(CADDY_CACHE)/.build.XXXXXX"); \
	  trap 'rm -rf "$$tmp"' EXIT; start=$$(date +%s); \
	  CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o "$$tmp/caddy" .; \
	  secs=$$(( $$(date +%s) - start )); \
	  echo "built $$(date -u +%FT%TZ) in $$secs s wall ($$(nproc) CPUs), caddy $(CADDY_VERSION), $$(stat -c %s "$$tmp/caddy") bytes, $$($(GO) env GOVERSION)" > "$$tmp/BUILD"; \
	  mv -f "$$tmp/BUILD" "$(CADDY_CACHE)/BUILD"; mv -f "$$tmp/caddy" "$(CADDY_CACHE)/caddy"; \
	  cat "$(CADDY_CACHE)/BUILD"; \
	fi
	@mkdir -p $(BIN)
	@ln -sfn "$(CADDY_CACHE)/caddy" "$(BIN)/caddy"
	@echo "bin/caddy -> $(CADDY_CACHE)/caddy"

caddy-image: caddy
	@set -eo pipefail; sum=$$(sha256sum "$(CADDY_CACHE)/caddy" | cut -d' ' -f1); \
	have=$$(docker image inspect -f '{{index .Config.Labels "aiuptime.binary.sha256"}}' $(CADDY_IMAGE) 2>/dev/null || true); \
	if [ "$$have" = "$$sum" ]; then echo "$(CADDY_IMAGE) is up to date (caddy sha256 $$sum)"; exit 0; fi; \
	ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	cp "$(CADDY_CACHE)/caddy" "$$ctx/caddy"; mkdir "$$ctx/empty"; \
	docker build -q -f fixtures/caddy/Dockerfile --label aiuptime.binary.sha256=$$sum \
	  --label org.opencontainers.image.version=$(CADDY_VERSION) -t $(CADDY_IMAGE) "$$ctx" >/dev/null; \
	echo "built $(CADDY_IMAGE) ($$(docker image inspect -f '{{.Size}}' $(CADDY_IMAGE)) bytes, caddy sha256 $$sum)"

## ollama: Ollama $(OLLAMA_VERSION) at bin/ollama, CPU only, built with cgo
## from the module pinned in third_party/ollama (the server, the llama.cpp
## runner and the Ollama engine in one binary) once per version into
## $(OLLAMA_CACHE), which survives `make clean`, with a BUILD file (wall
## seconds, size, Go version) next to it. Needs gcc/g++ and, from `make deps`,
## nlohmann-json3-dev and libstb-dev (the module zip lacks llama.cpp's
## vendored headers); miniaudio.h comes from the pinned gen2brain/malgo, copied
## to a fixed path under the cache so that the flags, and so the Go build cache
## entries of the cgo packages, stay the same from one build to the next.
## A cold build (modules downloaded, llama.cpp's C++ compiled from scratch,
## 2 cores shared with other builds, Go 1.26.8) took 985 s wall, and 1572 s
## under `nice` with a load of 8-17; it makes a 35 MB binary linking libstdc++,
## libm, libgcc_s and libc. A warm one: 0.2 s.
## ollama-image: aiuptime/ollama:$(OLLAMA_VERSION:v%=%), 41 MB, FROM scratch:
## that binary, its shared libraries, and the tiny llama of fixtures/gguf
## (bin/gen-gguf) imported as tiny:latest by the real Ollama; see
## fixtures/ollama/README.md. fixtures/ollama/build-image.sh skips the build
## when the image's label holds the inputs' hash. Cold 8-11 s, warm 1 s.
OLLAMA_VERSION := v0.17.4
MALGO_VERSION := v0.11.24
OLLAMA_CACHE ?= $(HOME)/.cache/aiuptime/ollama/$(OLLAMA_VERSION)
OLLAMA_IMAGE := aiuptime/ollama:$(OLLAMA_VERSION:v%=%)

.PHONY: ollama ollama-image

ollama:
	@set -eo pipefail; cd third_party/ollama; \
	for m in "github.com/ollama/ollama $(OLLAMA_VERSION)" "github.com/gen2brain/malgo $(MALGO_VERSION)"; do \
	  set -- $$m; v=$$($(GO) list -m -f '{{.Version}}' $$1); \
	  [ "$$v" = "$$2" ] || { echo "third_party/ollama/go.mod has $$1 $$v, the Makefile says $$2"; exit 1; }; \
	done; \
	if [ ! -s "$(OLLAMA_CACHE)/ollama" ]; then \
	  echo "building ollama $(OLLAMA_VERSION) into $(OLLAMA_CACHE) (cold: 15-30 minutes on 2 cores)"; \
	  mkdir -p "$(OLLAMA_CACHE)"; tmp=$$(mktemp -d "$(OLLAMA_CACHE)/.build.XXXXXX"); \
	  trap 'rm -rf "$$tmp"' EXIT; start=$$(date +%s); \
	  inc="$(OLLAMA_CACHE)/include"; mkdir -p "$$inc/miniaudio"; \
	  $(GO) mod download github.com/gen2brain/malgo; \
	  malgo=$$($(GO) list -m -f '{{.Dir}}' github.com/gen2brain/malgo); \
	  [ -n "$$malgo" ] || { echo "github.com/gen2brain/malgo: no module directory after go mod download"; exit 1; }; \
	  cp -f "$$malgo/miniaudio.h" "$$inc/miniaudio/"; \
	  CGO_ENABLED=1 CGO_CPPFLAGS="-I$$inc" $(GO) build -trimpath \
	    -ldflags "-s -w -X github.com/ollama/ollama/version.Version=$(OLLAMA_VERSION:v%=%)" \
	    -o "$$tmp/ollama" github.com/ollama/ollama; \
	  secs=$$(( $$(date +%s) - start )); \
	  echo "built $$(date -u +%FT%TZ) in $$secs s wall ($$(nproc) CPUs), ollama $(OLLAMA_VERSION), $$(stat -c %s "$$tmp/ollama") bytes, $$($(GO) env GOVERSION)" > "$$tmp/BUILD"; \
	  mv -f "$$tmp/BUILD" "$(OLLAMA_CACHE)/BUILD"; mv -f "$$tmp/ollama" "$(OLLAMA_CACHE)/ollama"; \
	  cat "$(OLLAMA_CACHE)/BUILD"; \
	fi
	@mkdir -p $(BIN)
	@ln -sfn "$(OLLAMA_CACHE)/ollama" "$(BIN)/ollama"
	@echo "bin/ollama -> $(OLLAMA_CACHE)/ollama"

ollama-image: ollama
	@GO=$(GO) OLLAMA_VERSION=$(OLLAMA_VERSION) fixtures/ollama/build-image.sh $(BIN)/ollama $(BIN)/gen-gguf $(OLLAMA_IMAGE)
