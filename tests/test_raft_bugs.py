"""One test per Raft catalog bug: the suite finds it and reports the invariant the catalog names,
and the shrunk counterexample replays from its scenario file to the same violation."""

import pytest

from checks.raft.scenario import load, run
from checks.raft.search import search
from impl.catalog import all_bugs

# A bound in test cases, not seconds, so the outcome is the same on a slow or busy machine.
EXAMPLES_MAX = 6_000
SEED = 0


@pytest.mark.parametrize("bug", all_bugs("raft"), ids=lambda bug: bug.name)
def test_suite_finds_catalog_bug(bug):
    outcome = search(bug.override, SEED, budget_seconds=600, examples_max=EXAMPLES_MAX)
    assert outcome.violation is not None, f"{bug.name}: nothing found in {outcome.examples} test cases"
    assert outcome.violation.invariant.id == bug.invariant, outcome.violation.message
    lines = outcome.cluster.lines
    replayed = run(load("\n".join(lines), "<counterexample>"), bug.override)
    assert replayed.violation is not None and replayed.violation.invariant.id == bug.invariant
    assert replayed.violation.message == outcome.violation.message


def test_every_raft_invariant_is_broken_by_some_bug():
    from spec.raft import INVARIANTS

    broken = {bug.invariant for bug in all_bugs("raft")}
    assert {inv.id for inv in INVARIANTS} <= broken
