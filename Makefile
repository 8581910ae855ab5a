# pixelgate: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -P -m pip
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install tools test e2e demo crds bench-ingest bench-dedup bench-generate clean

# Install the project with every extra, pinned by constraints.txt (the one lock file).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt pip setuptools wheel
	$(PIP) install -q -c constraints.txt -e '.[train,dev]'
	touch $@

install: $(STAMP)

# Build (first time) or reuse the real test servers: kube-apiserver, etcd, S3, helm, argo, prometheus,
# and the one-node cluster's kubelet, scheduler, containerd and Argo controller.
tools:
	bash tools/testcluster/build.sh

# The whole suite, the real-cluster end-to-end module included (it builds its images on first use).
test: install tools
	$(BIN)/python -P -m pytest -ra

# Only the real-cluster end-to-end module (docs/testing.md, "The real cluster").
e2e: install tools
	$(BIN)/python -P -m pytest -ra -m e2e tests/test_e2e_cluster.py

demo: install
	$(BIN)/python -P -m pixelgate.workflows.demo

crds: install
	$(BIN)/pixelgate crds -o crds

# Benchmarks: baseline and pixelgate on the same data in one run; figures go to docs/benchmarks.md.
bench-ingest: install
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_ingest.py --texts 2000

bench-dedup: install
	$(BIN)/python benchmarks/bench_dedup.py

bench-generate: install
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_generate.py --count 10000

clean:
	rm -rf $(VENV) .pixelgate .pytest_cache

# Container images (images/*/Dockerfile), where a Docker engine runs. Knobs (REGISTRY, TAG,
# PYTHON_IMAGE, RUNTIME_IMAGE, PIP_CERT, DOCKER) are documented in images/build.sh.
.PHONY: images
images:
	bash images/build.sh operator steps train
