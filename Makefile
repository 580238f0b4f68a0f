# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch is pinned to the local CPU wheel and installed FIRST: any other torch pulls GBs of CUDA wheels.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.kiln-installed

.PHONY: test demo venv lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev,demo]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) -m kiln.demo

lint: $(STAMP)
	$(PY) -m ruff check kiln tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/import_time.py
	$(PY) benchmarks/init_weights.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/runner_overhead.py --interleaved
	$(PY) benchmarks/hot_path_lines.py
	$(PY) benchmarks/checkpoint_io.py
	$(PY) benchmarks/meta_init.py
	$(PY) benchmarks/async_save.py
	$(PY) benchmarks/preemption_check.py

clean:
	rm -rf $(VENV) build *.egg-info work_dirs
