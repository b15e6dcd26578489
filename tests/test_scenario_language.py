"""The scenario language's shared parts (checks/scenario.py) and the Raft commands that use them:
`repeat`, the `maybe` mark, state assertions that fail at their line, `partition` replacing the
cut, and an exception inside impl/ replayed as the IMPL-EXCEPTION finding."""

from __future__ import annotations

import re

import pytest

from checks.raft.scenario import load, run
from checks.raft.search import search
from checks.scenario import ScenarioError, parse
from impl.catalog import bug_by_name

COMMIT_PAST_LOG_END = """cluster 3 seed=1
campaign n1
stabilize
crash n3
propose n1 a
propose n1 b
stabilize
restart n3
tick 2
stabilize
"""


def _run(text: str, bug: str | None = None):
    node_class = bug_by_name(bug).override if bug else None
    scenario = load(text, "s.scenario")
    return run(scenario, node_class) if node_class else run(scenario)


def test_repeat_expands_with_a_counter_and_keeps_the_line_number():
    commands = parse("cluster 3\nrepeat 3 propose n1 v{i}\n", "f")
    assert [(c.text, c.line_no) for c in commands[1:]] == [
        ("propose n1 v1", 2), ("propose n1 v2", 2), ("propose n1 v3", 2)]


@pytest.mark.parametrize("line", ["repeat 0 tick", "repeat x tick", "repeat 3", "repeat 2 expect held",
                                  "repeat 100001 tick"])
def test_a_bad_repeat_is_an_error_at_its_line(line):
    with pytest.raises(ScenarioError, match=r"^f:2: "):
        parse(f"cluster 3\n{line}\n", "f")


@pytest.mark.parametrize("line", ["crash n3", "deliver n1->n2", "release n1->n2", "propose n2 x", "campaign n1",
                                  "restart n1"])
def test_a_command_that_does_nothing_is_an_error_unless_marked_maybe(line):
    setup = "cluster 3 seed=1\ncampaign n1\nstabilize\ncrash n3\n"
    with pytest.raises(ScenarioError, match=r"^s.scenario:5: .*mark the line `maybe`"):
        _run(f"{setup}{line}\n")
    assert _run(f"{setup}maybe {line}\n").violation is None


def test_a_maybe_line_that_does_something_is_recorded_plainly():
    outcome = _run("cluster 3 seed=1\nmaybe campaign n1\nmaybe crash n1\nmaybe crash n1\n")
    assert outcome.cluster.lines[1:] == ["campaign n1", "crash n1", "maybe crash n1"]


def test_state_assertions_hold_and_fail_at_their_line():
    text = ("cluster 3 seed=1\ncampaign n1\nstabilize\nexpect leader n1 term=1\nexpect role n2 follower\n"
            "expect term n3 1\nexpect commit n2 0\nexpect commit n1 1\nexpect applied n1 1\nexpect log n2 1:noop\n"
            "expect log n3 1\n")
    assert _run(text).expectation_failure is None
    failed = _run(text + "crash n2\nexpect role n2 down\nexpect log n1 1:noop 1:a\n").expectation_failure
    assert failed == "s.scenario:14: expect log n1 1:noop 1:a: n1's log has 1 entry: 1:noop"


@pytest.mark.parametrize("line", ["expect leader", "expect leader n9", "expect role n1 boss", "expect term n1 x",
                                  "expect log n1 a:b", "expect nothing n1"])
def test_a_malformed_state_assertion_is_an_input_error(line):
    with pytest.raises(ScenarioError, match=r"^s.scenario:2: "):
        load(f"cluster 3\n{line}\n", "s.scenario")


def test_partition_replaces_the_previous_cut():
    outcome = _run("cluster 3 seed=1\npartition n1 | n2 n3\npartition n1 n2 | n3\n")
    blocked = outcome.cluster.world.network.blocked
    assert ("n1", "n2") not in blocked and ("n1", "n3") in blocked and ("n2", "n3") in blocked


def test_an_exception_inside_impl_is_the_impl_exception_finding_with_its_traceback():
    assert _run(COMMIT_PAST_LOG_END).violation is None
    violation = _run(COMMIT_PAST_LOG_END, "commit-past-log-end").violation
    assert violation.invariant.id == "IMPL-EXCEPTION"
    assert re.fullmatch(r"AssertionError: n3: commit 3 beyond log end 2 \(raised at impl/raft/node\.py:\d+ in "
                        r"_commit_to\)", violation.message), violation.message
    assert "impl/raft/replication.py" in violation.details and violation.details.endswith(
        "AssertionError: n3: commit 3 beyond log end 2")


def test_a_search_turns_an_impl_exception_into_a_shrunk_replayable_finding():
    bug = bug_by_name("commit-past-log-end").override
    outcome = search(bug, 1, budget_seconds=600, examples_max=2_000)
    assert outcome.violation is not None and outcome.violation.invariant.id == "IMPL-EXCEPTION"
    replayed = run(load("\n".join(outcome.cluster.lines), "<cx>"), bug)
    assert replayed.violation.signature == outcome.violation.signature


def test_an_exception_in_the_suite_itself_is_not_disguised_as_a_finding(monkeypatch):
    from checks.raft import cluster as cluster_module

    def broken(self):
        raise KeyError("a defect of checks/, not of impl/")
    monkeypatch.setattr(cluster_module.RaftCluster, "stabilize", broken)
    with pytest.raises(KeyError):
        _run("cluster 3 seed=1\nstabilize\n")
