# galcube: `make report` (main job) and `make test`; both set up .venv first.
# `make test-fast` leaves out the slow, deep, notebooks and browser tests (pytest markers).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Machines with a local CPU torch wheel keep it in /opt/wheels; elsewhere PyPI serves torch.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup test test-fast report lab bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e ".[all,pdr,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not deep and not notebooks and not browser"

report: setup
	$(BIN)/python -m galcube_lib.report

lab: setup
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: setup
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_dataset.py
	$(BIN)/python benchmarks/bench_ist.py
	$(BIN)/python benchmarks/bench_deep.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_adapt.py --weights unet3d_family
	$(BIN)/python benchmarks/bench_tour_flux.py
	$(BIN)/python benchmarks/bench_big.py

clean:
	rm -rf $(VENV) reports outputs
