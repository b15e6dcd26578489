"""The `apiserver` area of `kinv check` and `kinv replay`."""

from __future__ import annotations

from checks.apiserver.cluster import ApiCluster, ApiParts
from checks.apiserver.scenario import load, run
from checks.apiserver.search import search
from checks.simulated import SimulatedArea

__all__ = ["AREA", "counterexample_of"]

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


AREA = SimulatedArea("apiserver", search, load, run, ApiParts, _state_lines, LEGEND, DIAGRAM_HIDES)
counterexample_of = AREA.counterexample_of
