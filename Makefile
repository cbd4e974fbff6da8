# poolbench — common tasks. `make claims` runs the main job (the claims tested); `make demo` is a first look;
# `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PB     := $(VENV)/bin/poolbench

.PHONY: install dataset demo report test test-fast test-slurm lint format bench bench-sweep sweep tuned claims calibrate-probes architectures clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reproducible install: versions pinned by constraints.txt (pyproject.toml itself only states ranges).
install: $(PY)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[launchers,tune,trackers,deploy,test,dev]'

$(PB):
	$(MAKE) install

# Real FashionMNIST for offline machines (Debian/Ubuntu); poolbench also finds files in data_dir or downloads.
dataset:
	@test -d /usr/share/datasets/fashion-mnist || test -d data/FashionMNIST/raw || \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	  echo "could not install dataset-fashion-mnist; poolbench will try data_dir or a download"

# A first look: small CNN x {gap, gmp, gem, flatten} on real FashionMNIST, 3 epochs, run records and report under
# results/demo/ (2 min 22 s for the four runs on this project's 2-core machine, measured).
demo: $(PB) dataset
	$(PB) experiment=demo

# Tables, figures and report.md for the demo (a `-m` sweep also writes its report when it ends).
report: $(PB)
	$(VENV)/bin/poolbench-report results/demo

# The main comparison grid (7 heads x small CNN x FashionMNIST x 3 seeds = 21 runs) in parallel on this machine.
# Re-running skips finished runs and resumes interrupted ones; JOBS=n sets parallel runs (threads = cores / n).
JOBS ?= 2
sweep: $(PB) dataset
	$(PB) experiment=pooling_grid launcher=joblib jobs=$(JOBS)

# Tuned-per-head protocol on FashionMNIST: per head, Optuna picks lr and weight decay on validation (6 trials),
# then 3 seeds at that setting; report under results/tuned_test/report_tuned/ (about 25 min on 2 idle cores).
tuned: $(PB) dataset
	$(PY) -m poolbench.sweep.tuned_protocol $(TUNED_ARGS)

# The main job (`make claims`): the claims grid (docs/results.md, docs/claims-grid.md), all into results/claims/:
# the presets of poolbench/conf/experiment/claims_presets.txt in order: claims.yaml (6 settings x 4 heads x
# 5 seeds), claims_deep.yaml (depth 2 on the 1k FashionMNIST cell), claims_deep_probes.yaml (depth 2: GMP and
# GAP on presence and density), claims_seeds.yaml (5 more seeds for claim 3), claims_zeros.yaml (presence with
# zero padding: GAP and flatten, claim 4); then the robustness map into results/claims_robust/ (claims_robust*.yaml:
# weight decay, crop, 20 % label noise, 60 epochs, width x depth, 10k images, one factor at a time around the 1k
# cell; 111 runs, docs/robustness.md); then deployment (poolbench-deploy, docs/deploy.md: ONNX export + parity,
# int8, peak memory, each cell's heads timed interleaved in 5 processes in eager PyTorch and ONNX Runtime), then
# the report with the verdict and the robustness map in results/claims/report/claims.md. 301 runs, about 3,500
# CPU-seconds of training in fp32 (scripts/claims_budget.py; evaluation and timing come on top). Re-running
# skips finished runs and resumes interrupted ones.
CLAIMS_PRESETS := $(shell sed -e 's/\#.*//' poolbench/conf/experiment/claims_presets.txt)
claims: $(PB) dataset
	@date -u +"claims: started %FT%TZ"
	@for preset in $(CLAIMS_PRESETS); do \
	  echo "$(PB) experiment=$$preset launcher=joblib jobs=$(JOBS) report_on_sweep_end=false"; \
	  $(PB) experiment=$$preset launcher=joblib jobs=$(JOBS) report_on_sweep_end=false || exit $$?; \
	done
	$(PY) -m poolbench.deploy.command results/claims results/claims_robust
	$(VENV)/bin/poolbench-report results/claims
	@date -u +"claims: finished %FT%TZ"

# The probe tasks' noise, calibrated on a generator seed the claims reference never uses (conf/experiment/
# calibrate_probes.yaml states the rule): test accuracy by task, noise and head in
# results/calibrate_probes/report/summary.md (36 runs).
calibrate-probes: $(PB)
	$(PB) experiment=calibrate_probes launcher=joblib jobs=$(JOBS)

# poolbench/report/architectures.csv (claim 1 on VGG-16, AlexNet, ResNet-18/50, MobileNetV2): parameter counts
# from torchvision's definitions without weights; tests/test_architectures.py checks the shipped file.
architectures: $(PB)
	$(PY) scripts/architectures.py

bench-sweep: $(PB)
	$(PY) scripts/bench_sweep.py

test: $(PB)
	$(PY) -m pytest -q

# Style and types: ruff (lint + format check) and mypy, as configured in pyproject.toml; CI runs it first.
lint: $(PB)
	$(VENV)/bin/ruff check poolbench scripts tests hydra_plugins
	$(VENV)/bin/ruff format --check poolbench scripts tests hydra_plugins
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(PB)
	$(VENV)/bin/ruff check --fix poolbench scripts tests hydra_plugins
	$(VENV)/bin/ruff format poolbench scripts tests hydra_plugins

# The SLURM scenarios (tests/test_slurm.py) on a single-node cluster this target starts and always stops again
# (scripts/slurm-local; root on Debian: it installs slurmctld, slurmd, slurm-client and munge).
test-slurm: $(PB)
	scripts/slurm-local up
	POOLBENCH_REQUIRE_SLURM=1 $(PY) -m pytest -q -m slurm tests/test_slurm.py; rc=$$?; scripts/slurm-local down; exit $$rc

test-fast: $(PB)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf .pytest_cache build dist *.egg-info

# Speed: naive pipeline vs poolbench (fp32 and bf16) vs compute only vs matmul peak, one process; last line is JSON.
# Then time-to-verdict: the run time and CPU-seconds of make claims, from one short real run per claims cell.
bench: $(PB) dataset
	$(PY) scripts/bench.py $(BENCH_ARGS)
	$(PY) -m poolbench.bench.time_to_verdict $(VERDICT_ARGS)
