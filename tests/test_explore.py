"""The bounded exhaustive explorer (checks/explore): breadth first over the scenario commands, with
state hashing, symmetry reduction and sleep sets, and `kinv explore`."""

from __future__ import annotations

import json

import pytest

from checks.cli import main
from checks.explore.canonical import Canonical, freeze, rename
from checks.explore.engine import explore_levels
from checks.raft.explore import ExploreBounds, RaftModel
from checks.raft.scenario import load, run
from impl.catalog import bug_by_name
from impl.raft.node import RaftNode

FIGURE8 = bug_by_name("figure8-commit-previous-term").override


def _explore(model, depth, **kwargs):
    [outcome] = explore_levels([model], depth, budget_seconds=600, **kwargs)
    return outcome


def test_states_equal_up_to_renaming_servers_share_one_name():
    canonical = Canonical(("n1", "n2", "n3"))
    one = ({"n1": ("leader", ("voted", "n1")), "n2": ("follower", ("voted", "n1")), "n3": ("follower", ("voted", None))},
           frozenset({("n1", "n2", "msg")}))
    names = {"n1": "n3", "n3": "n1"}
    other = ({names.get(k, k): rename(v, names) for k, v in one[0].items()}, rename(one[1], names))
    sign = lambda split: {n: (s[0], ) for n, s in split[0].items()}  # noqa: E731
    name_one = canonical.name({n: (sign(one)[n], s) for n, s in one[0].items()}, one[1])[0]
    name_other = canonical.name({n: (sign(other)[n], s) for n, s in other[0].items()}, other[1])[0]
    assert name_one == name_other
    different = ({**one[0], "n3": ("follower", ("voted", "n2"))}, one[1])
    assert canonical.name({n: (sign(different)[n], s) for n, s in different[0].items()}, different[1])[0] != name_one


def test_freeze_makes_dicts_and_sets_order_free_and_leaves_out_what_it_is_told():
    class Thing:
        def __init__(self, order):
            self.votes = dict(order)
            self.clock = len(order)
    assert freeze(Thing([("a", 1), ("b", 2)]), frozenset({"clock"})) == freeze(Thing([("b", 2), ("a", 1)]),
                                                                                frozenset({"clock"}))


def test_exploration_is_deterministic_and_each_reduction_keeps_every_state():
    model = lambda: RaftModel("cluster 3 seed=0", RaftNode, ExploreBounds())  # noqa: E731
    reduced = _explore(model(), 4)
    again = _explore(model(), 4)
    assert (reduced.states, reduced.transitions) == (again.states, again.transitions)
    without_sleep_sets = _explore(model(), 4, sleep_sets=False)
    assert without_sleep_sets.states == reduced.states and without_sleep_sets.transitions > reduced.transitions
    assert _explore(model(), 4, symmetric=False).states > reduced.states
    assert reduced.violation is None and reduced.depth == 4


def test_figure8_is_found_as_a_shortest_counterexample_that_replays():
    outcome = _explore(RaftModel("cluster 3 seed=0", FIGURE8, ExploreBounds()), 8)
    assert outcome.violation is not None and outcome.violation.invariant.id == "RAFT-APPLIED-IS-COMMITTED"
    lines = outcome.state.cluster.lines
    assert len(lines) - 1 == 7 and outcome.depth == 6  # every run of 6 moves held: 7 is the shortest
    replayed = run(load("\n".join(lines), "<explored>"), FIGURE8)
    assert replayed.violation.message == outcome.violation.message
    assert run(load("\n".join(lines), "<explored>")).violation is None  # the reference holds on it


def test_kinv_explore_writes_a_report_and_a_json_line(tmp_path, capsys):
    code = main(["explore", "raft", "--bug", "ack-before-sync", "--depth", "4", "--budget", "600",
                 "--report", str(tmp_path / "r"), "--json"])
    row = json.loads(capsys.readouterr().out)
    assert code == 1 and row["result"] == "violated" and row["invariant"] == "RAFT-COMMITTED-DURABLE"
    assert row["steps"] == 2 and row["states"] > 0 and len(row["profiles"]) == 4
    scenario = (tmp_path / "r" / "counterexample.scenario").read_text()
    assert main(["replay", str(tmp_path / "r" / "counterexample.scenario"), "--bug", "ack-before-sync"]) == 1
    assert "expect violated RAFT-COMMITTED-DURABLE" in scenario
    assert main(["explore", "raft", "--depth", "2", "--json"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["explore", "rbac"], "has no explorer yet"),
    (["explore", "raft", "--depth", "0"], "must be >= 1"),
    (["explore", "raft", "--bug", "stale-follower-read"], "belongs to area 'etcd'"),
])
def test_kinv_explore_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_kinv_check_explores_shallow_runs_first_and_reports_the_shortest(tmp_path, capsys):
    code = main(["check", "raft", "--bug", "accept-stale-term-append", "--seed", "2", "--report", str(tmp_path / "r"),
                 "--json"])
    row = json.loads(capsys.readouterr().out)
    assert code == 1 and row["invariant"] == "RAFT-LEADER-APPEND-ONLY"
    assert row["examples"] == 0 and row["steps"] == 3  # no random test case was needed
