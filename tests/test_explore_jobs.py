"""`kinv explore --jobs N`: the configurations are explored in worker processes and the answer is
the one `--jobs 1` gives: the shortest violation, of the lowest configuration among equals, the
same report byte for byte, and each configuration's figures where `--jobs 1` stops it
(checks/explore/workers.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading

import pytest

from checks.cli import main
from checks.explore.engine import ExploreOutcome, Move, Played, explore_levels
from checks.explore.workers import End, Level, _Ledger
from checks.violation import InvariantViolated
from spec.invariant import Invariant

# Found by `kinv explore raft` in a few seconds, at depth 4 in the third configuration: the first
# two must explore depth 4 and the fourth depth 3 before it is the answer.
BUG, BUG_INVARIANT, BUG_STEPS = "term-not-persisted", "RAFT-ELECTION-SAFETY", 4
REFERENCE_DEPTH = 4


def _explore(capsys, argv: list[str], jobs: int, expected_code: int) -> dict:
    code = main(["explore", "raft", *argv, "--budget", "600", "--json", "--jobs", str(jobs)])
    row = json.loads(capsys.readouterr().out)
    assert code == expected_code, row
    for figures in (row, *row["profiles"]):  # the clock's figures differ from run to run
        figures.pop("seconds")
        figures.pop("states_per_second")
    return row


def test_jobs_2_finds_the_violation_and_writes_the_report_of_jobs_1(capsys, tmp_path):
    folder = tmp_path / "report"  # the same folder for both: report.md names it
    alone = _explore(capsys, ["--bug", BUG, "--report", str(folder)], 1, 1)
    files_alone = {path.name: path.read_bytes() for path in folder.iterdir()}
    shutil.rmtree(folder)
    shared = _explore(capsys, ["--bug", BUG, "--report", str(folder)], 2, 1)
    files_shared = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert (alone["invariant"], alone["steps"]) == (BUG_INVARIANT, BUG_STEPS)
    assert [p["invariant"] for p in alone["profiles"]] == [None, None, BUG_INVARIANT, None]
    assert shared == alone  # verdict, steps, and every configuration's depth, states and transitions
    assert set(files_alone) == {"report.md", "counterexample.scenario"} and files_shared == files_alone


def test_jobs_2_explores_the_states_of_jobs_1_on_the_reference(capsys):
    alone = _explore(capsys, ["--depth", str(REFERENCE_DEPTH)], 1, 0)
    shared = _explore(capsys, ["--depth", str(REFERENCE_DEPTH)], 2, 0)
    assert alone["result"] == "held" and alone["depth"] == REFERENCE_DEPTH
    assert shared == alone


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_bad_jobs_is_an_input_error(capsys, jobs):
    assert main(["explore", "raft", "--jobs", jobs]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "--jobs" in err


# ----- the rule, on small models -----------------------------------------------------------------

TOY = Invariant("TOY-TARGET", "any", "the toy never reaches its target", "tests")


class _Tree:
    """A binary tree of states (depth, value): `go B` appends the bit B. Reaching ``target``
    breaks TOY; no moves at depth ``leaves``. ``unpicklable`` puts a lock in every state;
    ``kill`` = (marker file, state): the first worker to reach that state is killed."""

    node_ids = ("x",)

    def __init__(self, target=None, leaves=None, unpicklable=False, kill=None):
        self.target, self.leaves, self.kill = target, leaves, kill
        self.lock = threading.Lock() if unpicklable else None
        self.parent = os.getpid()

    def initial(self):
        return (0, 0, self.lock)

    def moves(self, state):
        if self.leaves is not None and state[0] >= self.leaves:
            return []
        return [Move(f"go {bit}", frozenset({"x"}), ("go", bit)) for bit in (0, 1)]

    def copy_source(self, state):
        return state

    def play(self, state, move, source):
        child = (state[0] + 1, state[1] * 2 + move.label[1], self.lock)
        if self.kill is not None and child[:2] == self.kill[1] and os.getpid() != self.parent:
            if not self.kill[0].exists():
                self.kill[0].write_text("killed once\n")
                os.kill(os.getpid(), signal.SIGKILL)
        violation = InvariantViolated(TOY, f"reached {child[:2]}") if child[:2] == self.target else None
        return Played(child, violation)

    def split(self, state, parent=None, changed=frozenset()):
        return {"x": ((), state[:2])}, ()


def _figures(outcomes):
    return [(o.states, o.transitions, o.depth, o.exhausted, o.violation.message if o.violation else None,
             o.state[:2] if o.state else None) for o in outcomes]


# Model 1's violation (depth 3) is the answer: model 0's is deeper, model 2's as short but of a later
# model; model 3 runs out of moves at depth 2, model 4 holds.
TREES = lambda **kwargs: [_Tree(target=(4, 5), **kwargs), _Tree(target=(3, 1), **kwargs),  # noqa: E731
                          _Tree(target=(3, 0), **kwargs), _Tree(leaves=1, **kwargs), _Tree(**kwargs)]


@pytest.mark.parametrize("jobs", [2, 3, 5, 8])
def test_the_shortest_violation_of_the_lowest_model_wins(jobs):
    alone = explore_levels(TREES(), 6, 600)
    shared = explore_levels(TREES(), 6, 600, jobs=jobs)
    assert _figures(shared) == _figures(alone)
    assert [o.violation is not None for o in alone] == [False, True, False, False, False]
    assert alone[3].exhausted and alone[0].depth == 3 and alone[2].depth == 2  # where --jobs 1 stopped them


def test_without_a_violation_every_model_runs_to_the_depth_or_exhaustion():
    models = lambda: [_Tree(), _Tree(leaves=2), _Tree(leaves=7)]  # noqa: E731
    assert _figures(explore_levels(models(), 5, 600, jobs=2)) == _figures(explore_levels(models(), 5, 600))


def test_no_level_is_explored_once_the_budget_is_spent():
    shared = explore_levels(TREES(), 6, 1e-9, jobs=2)
    assert _figures(shared) == _figures(explore_levels(TREES(), 6, 1e-9)) == [(1, 0, 0, False, None, None)] * 5


def test_a_state_that_cannot_be_pickled_is_found_again_in_the_parent():
    alone = explore_levels(TREES(unpicklable=True), 6, 600)
    shared = explore_levels(TREES(unpicklable=True), 6, 600, jobs=2)
    assert _figures(shared) == _figures(alone)


def test_a_killed_worker_costs_a_rerun_not_an_answer(tmp_path):
    kill = (tmp_path / "killed", (2, 3))
    shared = explore_levels(TREES(kill=kill), 6, 600, jobs=2)
    assert kill[0].exists()
    assert _figures(shared) == _figures(explore_levels(TREES(), 6, 600))


def test_a_worker_exception_is_raised_in_the_parent():
    class Broken(_Tree):
        def moves(self, state):
            raise ValueError("a defect of the suite")
    with pytest.raises(RuntimeError, match="a defect of the suite"):
        explore_levels([_Tree(), Broken()], 3, 600, jobs=2)


def test_the_ledger_waits_for_every_model_that_could_still_be_shorter():
    figures = lambda depth, exhausted=False: ExploreOutcome(depth * 10, depth * 20, depth, 0.0, exhausted)  # noqa: E731
    ledger = _Ledger(models=3, depth_max=9)
    ledger.record(End({1: figures(2)}, found=1))  # model 1 breaks an invariant at depth 3
    assert ledger.best == (3, 1) and not ledger.settled
    for depth in (1, 2):
        ledger.record(Level(0, figures(depth)))
    assert not ledger.settled  # model 0 may still break one at depth 3: it would come first
    ledger.record(Level(0, figures(3)))
    ledger.record(Level(2, figures(1)))
    assert not ledger.settled  # model 2 may still break one at depth 2
    ledger.record(Level(2, figures(2)))
    ledger.record(Level(2, figures(3)))  # a worker goes deeper than needed: its figures stay at depth 2
    assert ledger.settled
    assert [o.depth for o in ledger.outcomes()] == [3, 2, 2]


def test_an_exhausted_model_cannot_hold_back_the_answer():
    ledger = _Ledger(models=2, depth_max=9)
    ledger.record(Level(0, ExploreOutcome(3, 2, 1, 0.0, True)))  # nothing at depth 1: done
    ledger.record(End({1: ExploreOutcome(8, 9, 4, 0.0, False)}, found=1))
    assert ledger.settled and ledger.best == (5, 1)
    assert ledger.outcomes()[0].exhausted
