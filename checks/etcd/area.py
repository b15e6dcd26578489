"""The `etcd` area of `kinv check` and `kinv replay`."""

from __future__ import annotations

from checks.etcd.cluster import EtcdCluster
from checks.etcd.scenario import load, run
from checks.etcd.search import search
from checks.simulated import SimulatedArea
from impl.etcd.parts import EtcdParts

__all__ = ["AREA", "counterexample_of"]


def _state_lines(cluster: EtcdCluster) -> tuple[str, ...]:
    lines = []
    for member_id in cluster.member_ids:
        member = cluster.member(member_id)
        if member is None:
            lines.append(f"{member_id}  down")
            continue
        raft = member.raft
        lines.append(f"{member_id}  {raft.role:<13} term={raft.term:<3} commit={raft.commit_index:<3} "
                     f"applied={member.applied_index:<3} revision={member.store.revision:<3} "
                     f"compacted={member.store.compact_revision}")
    for client_id in cluster.client_ids:
        client = cluster.client(client_id)
        busy = "idle" if client.idle else f"waiting on #{client.current.request_id} at {client.current.target}"
        watches = ", ".join(f"watch {w.id} on {w.member if w.physical else '-'}: events to revision "
                            f"{w.last_revision}, member at {w.last_header}" for w in client.watches.values())
        lines.append(f"{client_id}  {busy}" + (f"; {watches}" if watches else ""))
    return tuple(lines)


LEGEND = (
    "`c1#2 get k/b`: the second request of client c1; its answer goes back as `#2 ...`: `not found rev=1` "
    "(nothing there, the store at revision 1), `k/b=c1v2 rev=3` (the value read), `put rev=4 was k/b=c1v2` "
    "(a write, with the value it replaced when asked), `not leader (hint n1)` (sent nowhere; try n1).",
    "`[3:c1#2 put k/a=v]` in an AppendEntries: the request in the Raft log, at term 3 (`TERM:DATA`); "
    "`3:noop` is what a new leader appends; `commit up to index N` is when a member learns entries are committed.",
    "`w1 [put k/a=v@5,delete k/b@6]`: watch w1's events, each at the revision that made it (`@REVISION`); "
    "`w1 created @4`, `w1 progress @6`: the member's revision when it answered.",
    "Heartbeats (AppendEntries without entries) and successful AppendEntriesReply are left out of the diagram "
    "(a note counts them); the trace below has every event, grouped by the scenario step that caused it.",
)
# Routine Raft traffic: an AppendEntries carrying no entries, and the acknowledgements (commits are
# drawn as notes, which is what the acknowledgements lead to).
DIAGRAM_HIDES = (r"^AppendEntries t\d+ prev=\S+ \[\] ", r"^AppendEntriesReply t\d+ ok ")


AREA = SimulatedArea("etcd", search, load, run, EtcdParts, _state_lines, LEGEND, DIAGRAM_HIDES)
counterexample_of = AREA.counterexample_of
