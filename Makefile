# Each target bootstraps .venv itself, so any of them works as the first command on a fresh clone.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
JOBS ?= auto

.PHONY: demo test bench mutate clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kinv demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n $(JOBS) --hypothesis-profile=ci

bench: $(STAMP)
	$(VENV)/bin/python -m bench

# Every mutant of tests/mutants against the searches (60 s a run, seeds 1 and 2, then explore for 120 s):
# the share of bugs nobody told the suite about that it finds. MUTATE_ARGS narrows it down.
mutate: $(STAMP)
	$(VENV)/bin/python -m tests.mutants $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) reports .hypothesis
