"""From a running etcd world to the plain data spec/kv judges.

- The *committed history*: what applying each log index did, taken from the first member that
  applied it (Raft's State Machine Safety makes every member apply the same entry there).
  Compactions are the compact requests that applied without an error.
- Each client's watch streams, as ``spec.kv.watch.WatchStream`` values, and the streams of
  each logical watch in the order the client resumed them.
- The client history, as Jepsen-style operations for the linearizability checker. A write
  whose effect on each key the client cannot state (a lease's revocation or expiry, a ranged
  delete, a put with ignore_value, a txn over ranges) enters it from the log: one operation per
  changed key, at the moment a member first applied it (a "lessor" process whose outcome the
  log decides).
- Every request whole, and every log entry with what it answered and the events it made, for
  the judge of KV-RESPONSE-MATCHES-MODEL (spec/kv/responses.py).
"""

from __future__ import annotations

from checks.etcd.shapes import error_shape, event_shape, response_shape
from checks.lincheck import NOT_LINEARIZABLE, Operation, check_history
from checks.watchcheck import to_event
from impl.etcd.client_log import CallRecord, ClientLog, StreamRecord
from impl.etcd.lease import MIN_LEASE_TTL
from impl.etcd.member import AppliedChange
from impl.etcd.messages import EXPIRY, CompactionRequest, WatchResponse, describe_request
from impl.sim.world import World
from spec.kv import watch as spec
from spec.kv.invariants import AppliedStep, EtcdView, LeaderlessMember
from spec.kv.model import KV
from spec.kv.responses import ClientCall, CommittedEntry, Judgement, ResponseJudge
from spec.kv.store_model import StoreModel

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


def _entry(change: AppliedChange, applied_after: int) -> CommittedEntry:
    proposal = change.proposal
    if proposal is None:
        return CommittedEntry(change.index, applied_after, None, None, None, (), "no-op")
    origin = None if proposal.client == EXPIRY else (proposal.client, proposal.request_id)
    answer = error_shape(change.error) if change.error is not None else response_shape(change.response)
    return CommittedEntry(change.index, applied_after, proposal.op, origin, answer,
                          tuple(event_shape(e) for e in change.events), str(proposal))


def _call(record: CallRecord) -> ClientCall:
    """Only an answered call is complete: one whose outcome is unknown may still take effect."""
    if record.outcome == "ok":
        answer = response_shape(record.response)
    elif record.outcome == "fail":
        answer = error_shape(record.error)
    else:
        answer = None
    completed = record.completed if answer is not None else None
    return ClientCall(record.client, record.request_id, record.op, record.invoked, completed, answer,
                      describe_request(record.op))


class Observation:
    def __init__(self, member_ids: tuple[str, ...]) -> None:
        self.member_ids = member_ids
        self.committed: dict[int, AppliedChange] = {}
        self.entries: list[CommittedEntry] = []  # the committed log, index 1 first
        self.judge = ResponseJudge(StoreModel(min_lease_ttl=MIN_LEASE_TTL))
        self._seen: dict[str, tuple[object, int]] = {}  # member -> (its change list, how far read)
        self._calls: dict[tuple[str, int], ClientCall] = {}  # answered calls, converted once
        self._calls_seen = 0  # log.calls before this one had all finished when last looked at
        self._streams: dict[tuple[str, int], tuple[int, spec.WatchStream | None]] = {}  # by responses seen
        self._history: tuple[int, spec.History] = (-1, spec.History(()))
        self._builder = spec.HistoryBuilder()
        self._built: list[int] = []  # the committed indices the builder holds, in order
        self._compactions: list[spec.Compaction] = []
        self._leaderless_since: dict[str, int] = {}  # member -> the tick it lost its leader
        self._leaderless_tick = -1  # the tick members were last looked at
        self._last_key: tuple | None = None
        self._linearizability_key: tuple | None = None
        self._log_operations: list[Operation] = []  # what the log says unchecked writes did, per key
        self._log_writes_upto = 0  # entries looked at for them

    # ----- applied entries ----------------------------------------------------------------

    def collect_applied(self, world: World, history_length: int) -> tuple[AppliedStep, ...]:
        """The entries applied since the last call, on every live member; an entry applied
        for the first time is dated after the first ``history_length`` client events."""
        steps = []
        for member_id in self.member_ids:
            member = world.nodes[member_id]
            if member is None:
                continue
            changes = member.applied_changes
            owner, read = self._seen.get(member_id, (None, 0))
            if owner is changes and read == len(changes):
                continue  # most changes of state apply nothing
            if owner is not changes:  # a restarted member applies its log again from index 1
                read = 0
            for change in changes[read:]:
                if change.index not in self.committed:
                    self.committed[change.index] = change
                    self.entries.append(_entry(change, history_length))
                steps.append(_step(member_id, change))
            self._seen[member_id] = (changes, len(changes))
        return tuple(steps)

    def leaderless(self, world: World) -> tuple[LeaderlessMember, ...]:
        """The live members that know no leader, how long they have not, and how many watch
        streams they still serve; looked at once per tick (the bound is in ticks)."""
        if world.now == self._leaderless_tick:
            return ()
        self._leaderless_tick = world.now
        found = []
        for member_id in self.member_ids:
            member = world.nodes[member_id]
            if member is None or member.raft.leader_id is not None:
                self._leaderless_since.pop(member_id, None)
                continue
            since = self._leaderless_since.setdefault(member_id, world.now)
            found.append(LeaderlessMember(member_id, world.now - since, member.open_watch_streams,
                                          member.raft.config.election_timeout_ticks))
        return tuple(found)

    def history(self) -> spec.History:
        """The committed history so far: the entries committed since the last call appended
        (a search judges after every tick, so a rebuild each time is quadratic in the run);
        rebuilt whole only if an entry below one already built turns up."""
        if self._history[0] == len(self.committed):
            return self._history[1]
        new = sorted(index for index in self.committed if not self._built or index > self._built[-1])
        if len(self._built) + len(new) != len(self.committed):  # an earlier index came late
            self._builder, self._built, self._compactions = spec.HistoryBuilder(), [], []
            new = sorted(self.committed)
        for index in new:
            self._add_to_history(self.committed[index])
        self._built.extend(new)
        self._history = (len(self.committed), self._builder.history(self._compactions))
        return self._history[1]

    def _add_to_history(self, change) -> None:
        self._builder.extend(to_event(event) for event in change.events)
        if change.proposal and isinstance(change.proposal.op, CompactionRequest) and change.error is None:
            self._compactions.append(spec.Compaction(change.proposal.op.revision, change.revision_before))

    # ----- the clients' view --------------------------------------------------------------

    def view(self, log: ClientLog) -> EtcdView | None:
        """What the clients saw that is new, or None if nothing changed since the last call.
        Its streams are those with new responses (and, per logical watch, all streams of one
        that has some): every verdict on a stream depends only on its responses and on the
        committed history up to the revisions they name, which never changes afterwards."""
        key = (len(self.committed), len(log.history), len(log.streams),
               sum(len(record.responses) for record in log.streams))
        if key == self._last_key:
            return None
        self._last_key = key
        streams, resumed, changed = [], {}, set()
        for record in log.streams:
            stream, fresh = self._stream(record)
            if stream is None:
                continue
            logical = (record.client, record.logical)
            resumed.setdefault(logical, []).append(stream)
            if fresh:
                streams.append(stream)
                changed.add(logical)
        groups = tuple(tuple(resumed[logical]) for logical in sorted(changed))
        return EtcdView(self.history(), tuple(streams), groups, entries=tuple(self.entries),
                        calls=self._answered_calls(log))

    def _stream(self, record: StreamRecord) -> tuple[spec.WatchStream | None, bool]:
        """The record as a spec stream (converted again only when it got new responses), and
        whether it did since the last view."""
        key = (record.client, record.watch_id)
        seen = self._streams.get(key)
        if seen is not None and seen[0] == len(record.responses):
            return seen[1], False
        stream = _stream(record)
        self._streams[key] = (len(record.responses), stream)
        return stream, True

    def _answered_calls(self, log: ClientLog) -> tuple[ClientCall, ...]:
        """The calls answered so far, each converted once; the scan starts at the first call
        that was still pending last time."""
        pending = None
        for position in range(self._calls_seen, len(log.calls)):
            record = log.calls[position]
            key = (record.client, record.request_id)
            if record.outcome is None:
                pending = position if pending is None else pending
            elif record.outcome in ("ok", "fail") and key not in self._calls:
                self._calls[key] = _call(record)
        self._calls_seen = len(log.calls) if pending is None else pending
        return tuple(self._calls.values())

    def judgement(self, log: ClientLog) -> Judgement:
        """Every answer judged against the etcd model so far (accumulated)."""
        return self.judge.update(tuple(self.entries), self._answered_calls(log))

    def linearizability(self, log: ClientLog) -> list[str]:
        """KV-LINEARIZABLE's search over the values (the KV model, per key); run again only
        when an operation it judges was added since the last run."""
        checked = [Operation(e.process, e.type, e.f, e.value, e.key, e.index) for e in log.history if e.checked]
        log_writes = self._log_writes(log)
        key = (len(checked), len(log_writes))
        if key == self._linearizability_key:
            return []  # nothing new, and the last run found nothing (else the run stopped)
        self._linearizability_key = key
        operations = sorted(checked + log_writes, key=lambda op: op.index)
        if not operations:
            return []
        outcome = check_history(operations, KV)
        if outcome.result != NOT_LINEARIZABLE:
            return []
        return [_explain(outcome)]

    def _log_writes(self, log: ClientLog) -> list[Operation]:
        """What the log says the writes the history does not state did to each key: one write
        or delete per event, invoked and completed when a member first applied it (entries
        are looked at once: whether their request was checked is known when they commit)."""
        if self._log_writes_upto < len(self.entries):
            checked_calls = {(r.client, r.request_id) for r in log.calls if r.checked}
            for entry in self.entries[self._log_writes_upto:]:
                if entry.origin not in checked_calls:
                    self._log_operations += _effects(entry)
            self._log_writes_upto = len(self.entries)
        return list(self._log_operations)


def _effects(entry: CommittedEntry) -> list[Operation]:
    """An entry's changes as KV operations of a "lessor" (a revocation or expiry) or "log"
    process per key, at the moment a member first applied it."""
    at = entry.applied_after - 0.5
    who = "lessor" if type(entry.request).__name__ == "LeaseRevokeRequest" else "log"
    operations = []
    for event in entry.events:
        key = event["kv"]["key"].decode(errors="backslashreplace")
        f, value = ("write", event["kv"]["value"].decode(errors="backslashreplace")) \
            if event["type"] == "PUT" else ("delete", None)
        operations += [Operation(f"{who}.{key}", "invoke", f, value, key, at),
                       Operation(f"{who}.{key}", "ok", f, value, key, at)]
    return operations


def _explain(outcome) -> str:
    window = outcome.window
    if window is None:
        return "the client history is not linearizable"
    calls = "; ".join(_call_text(call) for call in window.calls)
    return f"no order of these operations on key {outcome.verdict.key!r} explains them: {calls}"


def _call_text(call) -> str:
    """`c1 read v1`, `c1 read nothing` (the key was not there), `c2 cas nothing->v2` (created
    if absent)."""
    value = call.value
    if call.f == "cas":
        value = f"{_shown(value[0], 'nothing')}->{_shown(value[1], 'nothing')}"
    else:
        value = _shown(value, "nothing" if call.f == "read" else "-")
    outcome = "" if call.outcome == "ok" else f" ({call.outcome})"
    return f"{call.process} {call.f} {value}{outcome}"


def _shown(value, absent: str) -> str:
    return absent if value is None else str(value)
