"""The `apiserver` area of `kinv check` and `kinv replay`."""

from __future__ import annotations

from pathlib import Path

from checks.apiserver.cluster import ApiCluster, ApiParts, InvariantViolated
from checks.apiserver.scenario import load, run
from checks.apiserver.search import search
from checks.area import CheckRequest, CheckResult, default_report_dir
from checks.report import Counterexample
from checks.simulated import counterexample_text, run_result
from impl.catalog import Bug

__all__ = ["AREA", "ApiArea", "counterexample_of"]

LEGEND = (
    "`u1` ... are API clients (kubectl), `a1` ... API server instances, `n1` ... store members, `wh1` the "
    "admission webhook service. `#3 POST /api/v1/namespaces/ns1/pods`: client request 3; the answer comes back "
    "as `#3 201 Pod ns1/p1 rv=7` or `#3 403 Forbidden: ...`.",
    "Between an instance and the store: `#12 txn[...]` is a store request (a create is a txn guarded by "
    "create_revision=0, an update by mod_revision=R), `w1 [put /registry/...@7]` the store watch feeding the "
    "instance's caches.",
    "Routine Raft traffic and the store's progress notifications are left out of the diagram; the trace has "
    "every event, grouped by the scenario step that caused it.",
)
DIAGRAM_HIDES = (r"^AppendEntries t\d+ prev=\S+ \[\] ", r"^AppendEntriesReply t\d+ ok ", r"progress @\d+",
                 r"^Leader\? ", r"^ReadIndex")


def _parts(bug: Bug | None) -> ApiParts:
    return bug.override if bug is not None else ApiParts()


def _state_lines(cluster: ApiCluster) -> tuple[str, ...]:
    lines = []
    for member_id in cluster.member_ids:
        member = cluster.world.nodes[member_id]
        if member is None:
            lines.append(f"{member_id}  down")
            continue
        lines.append(f"{member_id}  {member.raft.role:<13} term={member.raft.term:<3} "
                     f"revision={member.store.revision}")
    for instance_id in cluster.instance_ids:
        node = cluster.instance(instance_id)
        if node is None:
            lines.append(f"{instance_id}  down")
            continue
        lines.append(f"{instance_id}  caches at revision {node.cache_revision()}, {len(node.running)} requests "
                     f"in flight, {len(node.watches)} watches, store {'reachable' if node.store_reachable() else 'unreachable'}")
    for client_id in cluster.client_ids:
        client = cluster.client(client_id)
        busy = "idle" if client.idle else f"waiting on #{client.current.request.request_id} at {client.current.instance}"
        lines.append(f"{client_id}  {busy}, {len(client.streams)} watches open")
    return tuple(lines)


def counterexample_of(cluster: ApiCluster, violation: InvariantViolated, bug: Bug | None,
                      seed: int | None) -> Counterexample:
    steps = tuple(cluster.lines[1:])
    text = counterexample_text("apiserver", violation, bug, cluster.lines)
    return Counterexample("apiserver", bug, violation.invariant, violation.message, steps, text,
                          tuple(cluster.world.trace.events), _state_lines(cluster), cluster.ids, seed,
                          violation.details, LEGEND, DIAGRAM_HIDES)


def _result(bug, violation, cluster, examples, steps, seconds, seed, folder, note=None) -> CheckResult:
    return run_result("apiserver", bug, violation, cluster, examples, steps, seconds, seed, folder, counterexample_of,
                      note)


class ApiArea:
    name = "apiserver"

    def check(self, request: CheckRequest) -> CheckResult:
        outcome = search(_parts(request.bug), request.seed, request.budget_seconds, request.progress)
        folder = request.report_dir or default_report_dir("apiserver", request.bug, request.seed)
        return _result(request.bug, outcome.violation, outcome.cluster, outcome.examples, None,
                       round(outcome.seconds, 1), request.seed, folder)

    def replay(self, text: str, filename: str, bug: Bug | None, report_dir: Path | None) -> CheckResult:
        outcome = run(load(text, filename), _parts(bug))
        folder = report_dir or default_report_dir("apiserver", bug, None)
        return _result(bug, outcome.violation, outcome.cluster, 1, len(outcome.cluster.lines) - 1, 0.0, None,
                       folder, outcome.expectation_failure)


AREA = ApiArea()
