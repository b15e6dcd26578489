"""The `raft` area of `kinv check` and `kinv replay`."""

from __future__ import annotations

from pathlib import Path

from checks.area import CheckRequest, CheckResult, default_report_dir
from checks.budget import Budget, monotonic_seconds
from checks.explore import ExploreRequest, ExploreResult, explore_profiles
from checks.raft.cluster import InvariantViolated, RaftCluster
from checks.raft.explore import PROFILES, RaftModel
from checks.raft.scenario import load, run
from checks.raft.search import search
from checks.report import Counterexample, numbered_trace, write_report
from impl.catalog import Bug
from impl.raft.node import RaftNode
from impl.raft.storage import durable_log

__all__ = ["AREA", "RaftArea", "counterexample_of"]


def _node_class(bug: Bug | None) -> type[RaftNode]:
    return bug.override if bug is not None else RaftNode


def _state_lines(cluster: RaftCluster) -> tuple[str, ...]:
    lines = []
    for node_id in cluster.ids:
        node = cluster.world.nodes[node_id]
        if node is None:
            entries = " ".join(e.describe() for e in durable_log(cluster.world.disks[node_id]))
            lines.append(f"{node_id}  down                       disk: [{entries}]")
            continue
        entries = " ".join(e.describe() for e in node.log.all())
        lines.append(f"{node_id}  {node.role:<13} term={node.term:<3} commit={node.commit_index:<3} "
                     f"applied={node.applied_index:<3} log: [{entries}]")
    return tuple(lines)


LEGEND = (
    "`1:noop`, `2:v8`: a log entry, `TERM:DATA` (the no-op is what a new leader appends); logs in the state are "
    "these, in index order.",
    "`apply 2=1:v8`: the entry at index 2 is `1:v8`, applied (`INDEX=TERM:DATA`).",
    "`AppendEntries t3 prev=1:1 [3:noop] commit=0`: sent in term 3; the follower accepts it only if it holds an "
    "entry of term 1 at index 1 (`prev=INDEX:TERM`); the entries follow, then the leader's commit index.",
    "`RequestVote t2 last=2:1`: a candidate of term 2 whose last entry is at index 2, of term 1 (`INDEX:TERM`).",
    "`AppendEntriesReply t3 reject 2 hint=1:1`: the follower lacks the entry before index 2; its last entry that "
    "could match is at index 1, of term 1.",
    "`step 4. propose n1 v8`: the trace is grouped by the scenario line that caused each event; `t=` is the tick.",
)


def counterexample_of(cluster: RaftCluster, violation: InvariantViolated, bug: Bug | None,
                      seed: int | None) -> Counterexample:
    steps = tuple(cluster.lines[1:])
    expect = f"expect violated {violation.invariant.id}"
    header = [f"# {violation.invariant.id}: {violation.message}",
              "# replay: kinv replay counterexample.scenario" + (f" --bug {bug.name}" if bug else "")]
    scenario_text = "\n".join(header + list(cluster.lines) + [expect]) + "\n"
    return Counterexample("raft", bug, violation.invariant, violation.message, steps, scenario_text,
                          tuple(cluster.world.trace.events), _state_lines(cluster), cluster.ids, seed,
                          violation.details, LEGEND)


# `kinv check raft` first explores every run up to this depth (a few seconds, the same on every
# machine: a depth, not a time), so the shallow bugs get their shortest counterexample at once;
# then the random search takes the rest of the budget for the deep ones.
SHALLOW_EXPLORE_DEPTH = 4
SHALLOW_EXPLORE_MIN_BUDGET = 10.0  # below this the search alone keeps the whole budget
_UNBOUNDED_SECONDS = 1e9


class RaftArea:
    name = "raft"

    def _explored(self, bug: Bug | None, depth: int, budget_seconds: float, progress=None, jobs: int = 1):
        """Explore every profile (in ``jobs`` processes); the profiles' figures and the replayed
        violation, if any."""
        models = [(f"{line} ({bounds.describe()})", RaftModel(line, _node_class(bug), bounds))
                  for line, bounds in PROFILES]
        profiles, found = explore_profiles(models, ExploreRequest(bug, depth, budget_seconds, None, progress, jobs))
        if found is None:
            return profiles, None
        outcome = run(load("\n".join(found.state.cluster.lines), "<explore>"), _node_class(bug))
        return profiles, (outcome.cluster, outcome.violation or found.violation)  # a replay reproduces it

    def explore(self, request: ExploreRequest) -> ExploreResult:
        started = monotonic_seconds()
        profiles, found = self._explored(request.bug, request.depth_max, request.budget_seconds, request.progress,
                                         request.jobs)
        bug_name = request.bug.name if request.bug else None
        seconds = round(monotonic_seconds() - started, 1)
        if found is None:
            return ExploreResult("raft", bug_name, "held", None, None, seconds, None, tuple(profiles))
        cluster, violation = found
        folder = request.report_dir or default_report_dir("raft", request.bug, None)
        write_report(counterexample_of(cluster, violation, request.bug, None), folder)
        return ExploreResult("raft", bug_name, "violated", violation.invariant.id, len(cluster.lines) - 1,
                             seconds, str(folder), tuple(profiles))

    def check(self, request: CheckRequest) -> CheckResult:
        budget = Budget(request.budget_seconds)
        if request.budget_seconds >= SHALLOW_EXPLORE_MIN_BUDGET:
            _, found = self._explored(request.bug, SHALLOW_EXPLORE_DEPTH, _UNBOUNDED_SECONDS)
            if found is not None:
                return self._violated(request, *found, examples=0, seconds=budget.elapsed())
        remaining = max(0.1, request.budget_seconds - budget.elapsed())
        outcome = search(_node_class(request.bug), request.seed, remaining, request.progress)
        if outcome.violation is None:
            return CheckResult("raft", request.bug.name if request.bug else None, "held", None, outcome.examples,
                               None, round(budget.elapsed(), 1), request.seed, None)
        return self._violated(request, outcome.cluster, outcome.violation, outcome.examples, budget.elapsed())

    def _violated(self, request: CheckRequest, cluster: RaftCluster, violation: InvariantViolated, examples: int,
                  seconds: float) -> CheckResult:
        cx = counterexample_of(cluster, violation, request.bug, request.seed)
        folder = request.report_dir or default_report_dir("raft", request.bug, request.seed)
        write_report(cx, folder)
        return CheckResult("raft", request.bug.name if request.bug else None, "violated", violation.invariant.id,
                           examples, len(cx.steps), round(seconds, 1), request.seed, str(folder),
                           messages=cluster.world.counts.as_json())

    def replay(self, text: str, filename: str, bug: Bug | None, report_dir: Path | None) -> CheckResult:
        scenario = load(text, filename)
        outcome = run(scenario, _node_class(bug))
        bug_name = bug.name if bug else None
        steps = len(outcome.cluster.lines) - 1
        world = outcome.cluster.world
        replayed = {"note": outcome.expectation_failure, "messages": world.counts.as_json(),
                    "trace": tuple(numbered_trace(tuple(world.trace.events)))}
        if outcome.violation is None:
            return CheckResult("raft", bug_name, "held", None, 1, steps, 0.0, None, None, **replayed)
        cx = counterexample_of(outcome.cluster, outcome.violation, bug, None)
        folder = report_dir or default_report_dir("raft", bug, None)
        write_report(cx, folder)
        return CheckResult("raft", bug_name, "violated", outcome.violation.invariant.id, 1, steps, 0.0, None,
                           str(folder), **replayed)


AREA = RaftArea()
