"""The `raft` area of `kinv check` and `kinv replay`."""

from __future__ import annotations

from pathlib import Path

from checks.area import CheckRequest, CheckResult, default_report_dir
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
              f"# replay: kinv replay counterexample.scenario" + (f" --bug {bug.name}" if bug else "")]
    scenario_text = "\n".join(header + list(cluster.lines) + [expect]) + "\n"
    return Counterexample("raft", bug, violation.invariant, violation.message, steps, scenario_text,
                          tuple(cluster.world.trace.events), _state_lines(cluster), cluster.ids, seed,
                          violation.details, LEGEND)


class RaftArea:
    name = "raft"

    def explore(self, request: ExploreRequest) -> ExploreResult:
        models = [(f"{line} ({bounds.describe()})", RaftModel(line, _node_class(request.bug), bounds))
                  for line, bounds in PROFILES]
        profiles, found = explore_profiles(models, request)
        bug_name = request.bug.name if request.bug else None
        seconds = round(sum(p.seconds for p in profiles), 1)
        if found is None:
            return ExploreResult("raft", bug_name, "held", None, None, seconds, None, tuple(profiles))
        outcome = run(load("\n".join(found.state.cluster.lines), "<explore>"), _node_class(request.bug))
        violation = outcome.violation or found.violation  # a replay from the lines reproduces it
        folder = request.report_dir or default_report_dir("raft", request.bug, None)
        write_report(counterexample_of(outcome.cluster, violation, request.bug, None), folder)
        return ExploreResult("raft", bug_name, "violated", violation.invariant.id, len(outcome.cluster.lines) - 1,
                             seconds, str(folder), tuple(profiles))

    def check(self, request: CheckRequest) -> CheckResult:
        outcome = search(_node_class(request.bug), request.seed, request.budget_seconds, request.progress)
        bug_name = request.bug.name if request.bug else None
        if outcome.violation is None:
            return CheckResult("raft", bug_name, "held", None, outcome.examples, None,
                               round(outcome.seconds, 1), request.seed, None)
        cx = counterexample_of(outcome.cluster, outcome.violation, request.bug, request.seed)
        folder = request.report_dir or default_report_dir("raft", request.bug, request.seed)
        write_report(cx, folder)
        return CheckResult("raft", bug_name, "violated", outcome.violation.invariant.id, outcome.examples,
                           len(cx.steps), round(outcome.seconds, 1), request.seed, str(folder),
                           messages=outcome.cluster.world.counts.as_json())

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
