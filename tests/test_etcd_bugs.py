"""One test per etcd catalog bug: the suite finds it and reports the invariant the catalog
names, and the shrunk counterexample replays from its scenario lines to the same violation.
Plus: the reference holds for a bounded search, and every invariant has a bug that breaks it."""

import pytest

from checks.etcd.scenario import load, run
from checks.etcd.search import search
from impl.catalog import all_bugs
from impl.etcd.parts import EtcdParts

# Bounds in test cases, not seconds, so the outcome is the same on a slow or busy machine.
EXAMPLES_MAX = 2_000
REFERENCE_EXAMPLES = 200
SEED = 1


@pytest.mark.parametrize("bug", all_bugs("etcd"), ids=lambda bug: bug.name)
def test_suite_finds_catalog_bug(bug):
    outcome = search(bug.override, SEED, budget_seconds=600, examples_max=EXAMPLES_MAX)
    assert outcome.violation is not None, f"{bug.name}: nothing found in {outcome.examples} test cases"
    assert outcome.violation.invariant.id == bug.invariant, outcome.violation.message
    replayed = run(load("\n".join(outcome.cluster.lines), "<counterexample>"), bug.override)
    assert replayed.violation is not None and replayed.violation.invariant.id == bug.invariant
    assert replayed.violation.message == outcome.violation.message


def test_reference_holds_for_a_bounded_search():
    outcome = search(EtcdParts(), SEED, budget_seconds=600, examples_max=REFERENCE_EXAMPLES)
    assert outcome.violation is None, "\n".join(outcome.cluster.lines) + f"\n{outcome.violation}"
    assert outcome.examples >= REFERENCE_EXAMPLES


def test_every_etcd_invariant_is_broken_by_some_bug():
    from spec.kv import INVARIANTS

    broken = {bug.invariant for bug in all_bugs("etcd")}
    assert {inv.id for inv in INVARIANTS} <= broken
    assert len(all_bugs("etcd")) >= 8
