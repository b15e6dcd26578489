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


# Known gaps, open in issue 4. read-without-read-index: since CheckQuorum/PreVote became the
# default and `settle` stops once clients are done, the search no longer reaches a deposed leader
# answering a read (it did in 734 test cases before); tests/test_etcd_cluster.py shows the checks
# catch it when it happens. split-txn-events: with seed 1 the split txn is first seen across a
# resumed watch, where the lost half shows as WATCH-RELIABLE rather than WATCH-ATOMIC.
_NOT_FOUND_BY_SEARCH_YET = {"read-without-read-index", "split-txn-events"}


def _case(bug):
    if bug.name in _NOT_FOUND_BY_SEARCH_YET:
        return pytest.param(bug, marks=pytest.mark.xfail(strict=True, reason="search does not reach it yet"))
    return bug


@pytest.mark.parametrize("bug", [_case(b) for b in all_bugs("etcd")], ids=lambda bug: bug.name)
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
