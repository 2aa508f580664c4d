# Two commands for a newcomer: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch/torchvision: the CPU/CUDA wheels pip finds locally on this machine; pyproject declares ranges.
TORCH  := torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install test demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23" 
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# the optional Ray extra (distributed scoring): the tests use it, the demo does not
$(VENV)/.installed-ray: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[ray]"
	touch $@

install: $(VENV)/.installed

# modules whose public functions carry runnable examples (run as doctests)
DOCTESTS := causaliqa/graph causaliqa/estimators/spec.py causaliqa/serialize.py causaliqa/scoring/run.py causaliqa/analysis.py causaliqa/report/figures.py causaliqa/scoring/plan.py causaliqa/scoring/store.py docs/python.md

test: install $(VENV)/.installed-ray
	$(PY) -m ruff check --select F causaliqa tests benchmarks
	$(PY) -m pytest -q tests $(DOCTESTS) --doctest-modules --doctest-glob='*.md'

demo: install
	$(VENV)/bin/causaliqa demo

# Not a set-up command: measured speed against the reference libraries (writes benchmarks/results/*.json).
BENCHES := grouped_cv bootstrap auc pooled_logit dsep corruptions scoring paper_analysis stages ray prior table_formats
bench: install $(VENV)/.installed-ray
	$(PY) -m pip install -q -e ".[bench]"
	set -e; for b in $(BENCHES); do $(PY) benchmarks/bench_$$b.py; done

clean:
	rm -rf $(VENV) out scores
