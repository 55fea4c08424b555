.PHONY: setup test demo clean bench
VENV := .venv
PY := $(VENV)/bin/python

setup:
	@bash scripts/setup.sh

test: setup
	OMP_NUM_THREADS=2 $(PY) -m pytest tests

demo: setup
	$(VENV)/bin/slamfeat demo

bench: setup
	$(VENV)/bin/slamfeat bench match --json runs/bench_match.json
	$(VENV)/bin/slamfeat bench extract --json runs/bench_extract.json

clean:
	rm -rf $(VENV) runs .pytest_cache
