"""One test per apiserver catalog bug: the search finds it and reports the invariant the catalog
names, and the shrunk counterexample replays from its scenario lines to the same violation.
Plus: the reference holds for a bounded search, and every invariant has a bug that breaks it.
(tests/test_apiserver_scenario.py replays each bug's shrunk scenario, with and without the bug.)"""

import pytest

from checks.apiserver.scenario import load, run
from checks.apiserver.search import search
from impl.apiserver.bugs import ApiParts
from impl.catalog import all_bugs

# Bounds in test cases, not seconds, so the outcome is the same on a slow or busy machine. With
# seed 1 every bug is found within 70 test cases (kinv check apiserver --bug NAME --seed 1).
EXAMPLES_MAX = 150
REFERENCE_EXAMPLES = 60
SEED = 1


@pytest.mark.parametrize("bug", all_bugs("apiserver"), ids=lambda bug: bug.name)
def test_suite_finds_catalog_bug(bug):
    outcome = search(bug.override, SEED, budget_seconds=600, examples_max=EXAMPLES_MAX)
    assert outcome.violation is not None, f"{bug.name}: nothing found in {outcome.examples} test cases"
    assert outcome.violation.invariant.id == bug.invariant, outcome.violation.message
    replayed = run(load("\n".join(outcome.cluster.lines), "<counterexample>"), bug.override)
    assert replayed.violation is not None and replayed.violation.invariant.id == bug.invariant
    assert replayed.violation.message == outcome.violation.message
    assert len(outcome.cluster.lines) - 1 <= 25, "a shrunk counterexample a learner can read"


def test_reference_holds_for_a_bounded_search():
    outcome = search(ApiParts(), SEED, budget_seconds=600, examples_max=REFERENCE_EXAMPLES)
    assert outcome.violation is None, "\n".join(outcome.cluster.lines) + f"\n{outcome.violation}"
    assert outcome.examples >= REFERENCE_EXAMPLES


def test_every_apiserver_invariant_is_broken_by_some_bug():
    from spec.apiserver import INVARIANTS

    broken = {bug.invariant for bug in all_bugs("apiserver")}
    assert {inv.id for inv in INVARIANTS} <= broken
    assert len(all_bugs("apiserver")) >= 10
