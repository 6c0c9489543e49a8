# gener: every target sets up .venv itself when it is missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
GENER  := $(VENV)/bin/gener
STAMP  := $(VENV)/.gener-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test demo bench tables retriever publish publish-plan lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel of torch first: any other torch spec pulls GBs of CUDA packages.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[corpus,space,dev]"
	# scispacy pins numpy<2, which breaks pyarrow: install it without its pins
	# (rule 8 only needs spaCy, installed above).
	$(PY) -m pip install -q --no-deps scispacy==0.6.2
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(GENER) demo --out artifacts/demo

# The benchmarks behind BENCHMARKS.md, with the arguments recorded there (long: it builds the
# phrase index and trains; the 1M-sentence scale run is separate: see bench/SCALE.md).
bench: $(STAMP)
	$(PY) bench/retrieval_speed.py
	$(PY) bench/retrieval_quality.py
	$(PY) bench/matching_speed.py --repeat 7
	$(PY) bench/rule10_dev.py
	$(PY) bench/train_throughput.py --steps 60 --rounds 2 --sentences 3000 --self-training
	$(PY) bench/scale_recall.py
	$(PY) bench/scale_bench.py processes --sentences 1000

tables: $(STAMP)
	$(GENER) tables --out RESULTS.md

# Retrain the gener-retriever encoder from scratch (builds the MiniLM index first if needed,
# then its own index) into $GENER_CACHE/models/gener-retriever, where `--encoder
# gener-retriever` finds it.
retriever: $(STAMP)
	$(GENER) retriever train

# Uploads need the Hub: HF_TOKEN (or `hf auth login`) and optionally GENER_HUB_ORG.
publish: $(STAMP)
	HF_HUB_OFFLINE=0 $(GENER) publish --no-dry-run

publish-plan: $(STAMP)
	$(GENER) publish --dry-run

lint: $(STAMP)
	$(PY) -m ruff check gener trainers builders spaces tests bench

clean:
	rm -rf $(VENV) artifacts .pytest_cache
