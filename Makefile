# The README's two commands: `make run` and `make test`. Both build .venv on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/config.yaml
CORES ?= all
BENCH_ARGS ?= --quick
LINT_CONFIGS ?= config/config.yaml config/tiny.yaml
# studies linted as overlays of their base experiment: base:overlay
LINT_STUDIES ?= config/config.yaml:config/ablations.yaml config/config.yaml:config/gating.yaml \
	config/config.yaml:config/cost.yaml config/hippocampus.yaml:config/hippocampus_ablations.yaml

.PHONY: run test test-slurm lint dry-run bench clean-results help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/:/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the default experiment (phantom data, CPU); CONFIG="config/config.yaml config/ablations.yaml" for a study
	$(BIN)/morse-bench check --config $(CONFIG)  # a YAML error names file:line:column here
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)  # profiles/default applies by itself

dry-run: $(STAMP)  ## show the plan of jobs without running them
	$(BIN)/morse-bench check --config $(CONFIG) --skip-device-check
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake -n --cores $(CORES) --configfile $(CONFIG)

test: lint  ## the checks of `make lint`, then the test suite (unit + a tiny end-to-end workflow run)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

SLURM_STAMP := $(VENV)/.installed-slurm
$(SLURM_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	touch $(SLURM_STAMP)

test-slurm: $(SLURM_STAMP)  ## the SLURM profile on a one-node cluster started here (root, Debian)
	bash scripts/slurm_localhost.sh up
	SLURM_CONF=$${MORSE_SLURM_DIR:-/tmp/morse-slurm}/slurm.conf MORSE_TEST_SLURM=1 PATH=$(CURDIR)/$(BIN):$$PATH \
		$(BIN)/python -m pytest -q -m slurm tests/slurm; status=$$?; bash scripts/slurm_localhost.sh down; exit $$status

bench: $(STAMP)  ## step time, memory, FLOPs per variant -> benchmarks/results/ (BENCH_ARGS= for the full grid)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: $(STAMP)  ## ruff, snakefmt --check (Snakefile, workflow/) and snakemake --lint (LINT_CONFIGS)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/
	for config in $(LINT_CONFIGS); do \
		PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile $$config || exit 1; \
	done
	for study in $(LINT_STUDIES); do \
		PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile $${study%%:*} $${study#*:} || exit 1; \
	done

clean-results:  ## delete generated results, reports and logs (keeps data/)
	rm -rf results/*/ reports/*/ logs/ .snakemake/
