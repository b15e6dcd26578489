"""The mutants of tests/mutants stay usable: each has its header, applies cleanly to the current
tree, touches only impl/ and is not a catalog bug; and `make mutate` kills a mutant it should."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from impl.catalog import all_bugs
from tests.mutants.__main__ import main as mutate
from tests.mutants.catalog import load_mutants

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = load_mutants()


def test_there_are_enough_mutants_of_each_area():
    areas = [m.area for m in MUTANTS]
    assert areas.count("raft") >= 12 and areas.count("etcd") >= 10 and areas.count("rbac") >= 6
    assert len(MUTANTS) >= 30


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.area}/{m.name}")
def test_a_mutant_applies_to_impl_only_and_is_not_a_catalog_bug(mutant):
    assert mutant.touched and all(path.startswith("impl/") for path in mutant.touched), mutant.touched
    assert mutant.name not in {bug.name for bug in all_bugs()}
    check = subprocess.run(["git", "apply", "--check", str(mutant.path)], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, f"{mutant.path.name} no longer applies (refresh it): {check.stderr}"


def test_make_mutate_kills_a_mutant_and_scores_it(capsys):
    assert mutate(["quorum-off-by-one", "--budget", "20", "--seeds", "1", "--explore-budget", "0",
                   "--jobs", "1", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert '"killed": true' in lines[0] and lines[-1] == '{"score": "mutation score: 1/1 killed (100%); raft 1/1"}'
