"""From a running etcd world to the plain data spec/kv judges.

- The *committed history*: what applying each log index did, taken from the first member that
  applied it (Raft's State Machine Safety makes every member apply the same entry there).
  Compactions are the compact requests that applied without an error.
- Each client's watch streams, as ``spec.kv.watch.WatchStream`` values, and the streams of
  each logical watch in the order the client resumed them.
- The client history, as Jepsen-style operations for the linearizability checker.
"""

from __future__ import annotations

from checks.lincheck import NOT_LINEARIZABLE, Operation, check_history
from checks.watchcheck import to_event
from impl.etcd.client_log import ClientLog, StreamRecord
from impl.etcd.member import AppliedChange
from impl.etcd.messages import CompactRequest, WatchResponse, describe_request
from impl.sim.world import World
from spec.kv import watch as spec
from spec.kv.invariants import AppliedStep, EtcdView
from spec.kv.model import KV

__all__ = ["Observation"]


def _step(member: str, change: AppliedChange) -> AppliedStep:
    request = describe_request(change.proposal.op) if change.proposal else "no-op"
    return AppliedStep(member, change.index, change.revision_before, change.revision_after,
                       len(change.events), request)


def _response(response: WatchResponse) -> spec.Response:
    return spec.Response(tuple(to_event(e) for e in response.events), response.header_revision,
                         response.progress, response.canceled, response.compact_revision)


def _stream(record: StreamRecord) -> spec.WatchStream | None:
    created = record.created_revision
    if created is None:
        return None  # refused before it was created: it promised nothing
    start = record.requested_start or created + 1
    return spec.WatchStream(record.key, record.range_end, start, record.prev_kv, created,
                            tuple(_response(r) for r in record.responses))


class Observation:
    def __init__(self, member_ids: tuple[str, ...]) -> None:
        self.member_ids = member_ids
        self.committed: dict[int, AppliedChange] = {}
        self._seen: dict[str, tuple[object, int]] = {}  # member -> (its change list, how far read)
        self._last_key: tuple | None = None

    # ----- applied entries ----------------------------------------------------------------

    def collect_applied(self, world: World) -> tuple[AppliedStep, ...]:
        """The entries applied since the last call, on every live member."""
        steps = []
        for member_id in self.member_ids:
            member = world.nodes[member_id]
            if member is None:
                continue
            changes = member.applied_changes
            owner, read = self._seen.get(member_id, (None, 0))
            if owner is not changes:  # a restarted member applies its log again from index 1
                read = 0
            for change in changes[read:]:
                self.committed.setdefault(change.index, change)
                steps.append(_step(member_id, change))
            self._seen[member_id] = (changes, len(changes))
        return tuple(steps)

    def history(self) -> spec.History:
        changes = [self.committed[index] for index in sorted(self.committed)]
        events = [to_event(event) for change in changes for event in change.events]
        compactions = [spec.Compaction(change.proposal.op.revision, change.revision_before)
                       for change in changes
                       if change.proposal and isinstance(change.proposal.op, CompactRequest)
                       and change.error is None]
        return spec.complete_history(events, compactions=compactions)

    # ----- the clients' view --------------------------------------------------------------

    def view(self, log: ClientLog) -> EtcdView | None:
        """Everything the clients saw, or None if nothing changed since the last call."""
        key = (len(self.committed), len(log.history), len(log.streams),
               sum(len(record.responses) for record in log.streams))
        if key == self._last_key:
            return None
        self._last_key = key
        streams, resumed = [], {}
        for record in log.streams:
            stream = _stream(record)
            if stream is not None:
                streams.append(stream)
                resumed.setdefault((record.client, record.logical), []).append(stream)
        return EtcdView(self.history(), tuple(streams), tuple(tuple(s) for _, s in sorted(resumed.items())))

    @staticmethod
    def linearizability(log: ClientLog) -> list[str]:
        operations = [Operation(e.process, e.type, e.f, e.value, e.key, e.index)
                      for e in log.history if e.checked]
        if not operations:
            return []
        outcome = check_history(operations, KV)
        if outcome.result != NOT_LINEARIZABLE:
            return []
        return [_explain(outcome)]


def _explain(outcome) -> str:
    window = outcome.window
    if window is None:
        return "the client history is not linearizable"
    calls = "; ".join(_call_text(call) for call in window.calls)
    return f"no order of these operations on key {outcome.verdict.key!r} explains them: {calls}"


def _call_text(call) -> str:
    value = call.value
    if call.f == "cas":
        value = f"{value[0]}->{value[1]}"
    outcome = "" if call.outcome == "ok" else f" ({call.outcome})"
    return f"{call.process} {call.f} {value}{outcome}"
