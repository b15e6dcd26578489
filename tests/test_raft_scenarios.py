"""Golden scenarios under tests/scenarios/: each replays to its expected outcome, with the
reference and with the named bug."""

from pathlib import Path

import pytest

from checks.raft.scenario import load, run
from impl.catalog import bug_by_name
from impl.raft.node import RaftNode

SCENARIOS = Path(__file__).parent / "scenarios"

# (scenario file, bug or None, expected outcome)
GOLDEN = [
    ("figure8.scenario", None, "held"),
    ("figure8.scenario", "figure8-commit-previous-term", "violated RAFT-STATE-MACHINE-SAFETY"),
]


def _outcome(name: str, bug: str | None) -> str:
    path = SCENARIOS / name
    node_class = bug_by_name(bug).override if bug else RaftNode
    result = run(load(path.read_text(), str(path)), node_class)
    return "held" if result.violation is None else f"violated {result.violation.invariant.id}"


@pytest.mark.parametrize(("name", "bug", "expected"), GOLDEN)
def test_golden_scenario(name, bug, expected):
    assert _outcome(name, bug) == expected


def test_replay_is_deterministic():
    path = SCENARIOS / "figure8.scenario"
    bug = bug_by_name("figure8-commit-previous-term").override
    first = run(load(path.read_text(), str(path)), bug).cluster.world.trace.events
    second = run(load(path.read_text(), str(path)), bug).cluster.world.trace.events
    assert first == second and len(first) > 50
