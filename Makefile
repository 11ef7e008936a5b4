# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format bench-maze clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exactly pinned: a looser request would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0 -c constraints.txt
	$(PY) -m pip install -q -e ".[dev]" -c constraints.txt
	touch $(STAMP)

# The commands in the README are written `search-scaling ...`: say how a new shell finds them.
demo: $(STAMP)
	$(VENV)/bin/search-scaling demo; status=$$?; \
	echo "search-scaling is installed in $(VENV): run 'source $(VENV)/bin/activate' in a new shell" \
	     "(or call $(VENV)/bin/search-scaling) before the README's commands"; exit $$status

# Two workers, one test file each at a time: most of the suite waits on processes starting (Ray,
# MLflow, PostgreSQL), not on the CPU, so two files at once take about half the time on 2 cores.
# Files go out heaviest first (tests/conftest.py), not in xdist's default order.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

# maze-dataset lives in its own virtualenv (it pins old numpy/muutils); used only to compare.
.venv-maze-dataset/bin/python:
	$(PYTHON) -m venv .venv-maze-dataset
	.venv-maze-dataset/bin/pip install -q maze-dataset==1.4.2 muutils==0.8.12

bench-maze: $(STAMP) .venv-maze-dataset/bin/python
	$(PY) benchmarks/maze_throughput.py --compare-maze-dataset .venv-maze-dataset/bin/python

clean:
	rm -rf $(VENV) .venv-maze-dataset runs reports .cache
