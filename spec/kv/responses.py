"""Every answer a client received, judged against the etcd model (spec/kv/store_model.py) at
its linearization point: the check behind KV-RESPONSE-MATCHES-MODEL, and the real-time half of
KV-LINEARIZABLE for every request the values-only KV model cannot express.

Checking linearizability means finding an order of the operations, consistent with real time,
in which the model gives each one its answer. With whole answers that order is almost given,
which is what etcd's robustness tests exploit: a write's answer carries the revision it made,
and the log fixes the order of every write (the "persisted requests" the robustness tests read
from the members' WALs). So the check needs no search (revision-indexed checking):

1. *Replay the committed log through the model* (``Replay``): entry p of the log leads from
   state p-1 to state p. What the member that first applied it answered, and the events it
   produced (what every watch is later judged against), must be the model's.
2. *A write* is the entry carrying its client and request id: it takes effect at its position,
   and the client's answer must be the model's there. An answer for a request that never
   committed is wrong; a write whose outcome the client could not learn happened if and only
   if it is in the log.
3. *A read* (a range, a keep-alive, a time-to-live) is not in the log: it may take effect at
   any state whose model answer is its answer (its header revision narrows that to a few).
   A serializable range needs only some such state; a linearizable one needs one consistent
   with real time.
4. *Real time*: if X completed before Y was invoked, X must come first. Each entry took effect
   no later than the moment a member first applied it, and no other write could have come in
   between, so an entry without a client (the leader's no-op, a lease expiry the leader
   decided) is placed at that moment. Going through the calls by invocation and giving each
   read the earliest state real time allows (any later choice only constrains more) decides
   the whole history in O(n log n).

An answer no state of the model gives is a KV-RESPONSE-MATCHES-MODEL violation; an answer some
state gives, but none that real time allows (a stale read), a KV-LINEARIZABLE violation.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from spec.kv.store_model import Outcome, StoreModel, StoreState, describe, describe_answer, difference

__all__ = ["CommittedEntry", "ClientCall", "Replay", "Judgement", "ResponseJudge", "judge", "revoke_problems",
           "LOG_REQUESTS"]

# Requests that go through the log; every other request (range, keep-alive, time-to-live) is a read.
LOG_REQUESTS = frozenset({"PutRequest", "DeleteRangeRequest", "TxnRequest", "CompactionRequest",
                          "LeaseGrantRequest", "LeaseRevokeRequest"})
NEVER = float("inf")


@dataclass(frozen=True)
class CommittedEntry:
    """Log entry ``index`` as the first member to apply it did: the request (None for a
    leader's no-op), who sent it ((client, request id), None for the leader's own), the
    answer and the events (shapes), and when: after ``applied_after`` history events."""

    index: int
    applied_after: int
    request: Any
    origin: tuple[str, int] | None
    answer: dict | None
    events: tuple[dict, ...]
    text: str


@dataclass(frozen=True)
class ClientCall:
    """A request as its client saw it: invoked and completed at history positions, the
    answer it got (a shape, None when it learned nothing), and whether it is serializable."""

    client: str
    request_id: int
    request: Any
    invoked: int
    completed: int | None
    answer: dict | None
    text: str

    @property
    def serializable(self) -> bool:
        return bool(getattr(self.request, "serializable", False))


class Replay:
    """The model's states along the committed log, extended as entries commit:
    ``states[p]`` is the state after entry p; ``problems[p]`` says where entry p's answer or
    events departed from the model."""

    def __init__(self, model: StoreModel) -> None:
        self.model = model
        self.states: list[StoreState] = [StoreState()]
        self.outcomes: list[Outcome | None] = [None]
        self.problems: list[str | None] = [None]
        self._revisions: list[int] = [1]  # revision of each state, for bisecting

    def extend(self, entries: tuple[CommittedEntry, ...]) -> None:
        for entry in entries[len(self.states) - 1:]:
            assert entry.index == len(self.states), "entries are the committed prefix, in order"
            before = self.states[-1]
            if entry.request is None:
                outcome, problem = Outcome(before, {}), None
            else:
                outcome = self.model.step(before, entry.request, entry.answer)
                problem = _entry_problem(entry, outcome)
            self.states.append(outcome.state)
            self.outcomes.append(outcome)
            self.problems.append(problem)
            self._revisions.append(outcome.state.revision)

    def positions(self, revision: int) -> range:
        """The states at this revision (a run of consecutive positions, maybe empty)."""
        return range(bisect.bisect_left(self._revisions, revision), bisect.bisect_right(self._revisions, revision))

    def answer_at(self, position: int, request: Any, answer: dict) -> str | None:
        """Where ``answer`` departs from the model's answer to ``request`` in that state."""
        return difference(self.model.step(self.states[position], request, answer).expected, answer)


def _entry_problem(entry: CommittedEntry, outcome: Outcome) -> str | None:
    found = difference(outcome.expected, entry.answer) if entry.answer is not None else None
    if found:
        return f"entry {entry.index} ({entry.text}) was answered: {found}"
    if entry.events != outcome.events:
        return (f"entry {entry.index} ({entry.text}) produced the events {describe(entry.events)}; "
                f"the model's are {describe(outcome.events)}")
    return None


@dataclass
class Judgement:
    mismatches: list[str] = field(default_factory=list)  # KV-RESPONSE-MATCHES-MODEL
    stale: list[str] = field(default_factory=list)  # KV-LINEARIZABLE


@dataclass(order=True)
class _Op:
    """One operation on the time line: position 2p for entry p, 2q+1 for a read of state q."""

    invoked: float
    done: float = field(compare=False)
    position: int | None = field(compare=False, default=None)
    call: ClientCall | None = field(compare=False, default=None)
    entry: CommittedEntry | None = field(compare=False, default=None)


class ResponseJudge:
    """Judges each answer once, as soon as it can be judged: an entry when it first applies, a
    call when it completes. That is final: whatever must precede an operation in real time
    completed before it was invoked, so was judged already (entries are seen when first
    applied, calls when they complete)."""

    def __init__(self, model: StoreModel) -> None:
        self.replay = Replay(model)
        self.verdict = Judgement()
        self._entries_seen = 0
        self._judged: set[tuple[str, int]] = set()
        self._done: list[float] = []  # when each placed operation was done, sorted
        self._positions: list[int] = []  # its position, in the same order

    def update(self, entries: tuple[CommittedEntry, ...], calls: tuple[ClientCall, ...]) -> Judgement:
        """Judge what became judgeable; the verdict accumulates."""
        self.replay.extend(entries)
        fresh = entries[self._entries_seen:]
        self._entries_seen = len(entries)
        self.verdict.mismatches += [p for p in self.replay.problems[fresh[0].index:] if p] if fresh else []
        by_origin = {(call.client, call.request_id): call for call in calls}
        placed = {entry.origin: entry for entry in entries if entry.origin is not None}
        ops = [_entry_op(entry, by_origin.get(entry.origin)) for entry in fresh]
        for call in calls:
            key = (call.client, call.request_id)
            if call.completed is None or key in self._judged:
                continue
            self._judged.add(key)
            ops += self._judge_call(call, placed.get(key))
        for op in sorted(ops):
            self._place(op)
        return self.verdict

    def _judge_call(self, call: ClientCall, entry: CommittedEntry | None) -> list[_Op]:
        """Judge a write's answer at its entry; a read goes on the time line (a serializable
        one needs only some state that answers so)."""
        if type(call.request).__name__ in LOG_REQUESTS:
            _judge_write(call, entry, self.replay, self.verdict)
        elif call.answer is not None and call.serializable:
            if _matching(call, self.replay, _candidates(call, self.replay)) is None:
                self.verdict.mismatches.append(_no_state(call, self.replay))
        elif call.answer is not None:
            return [_Op(call.invoked, call.completed, call=call)]
        return []

    def _place(self, op: _Op) -> None:
        before = bisect.bisect_left(self._done, op.invoked)
        bound = max(self._positions[:before], default=-1)  # what had completed before it began
        if op.entry is None:
            op.position = _place_read(op.call, bound, self.replay, self.verdict)
        elif op.position <= bound:
            self.verdict.stale.append(f"entry {op.entry.index} ({op.entry.text}) took effect before "
                                      f"something that had completed before it was invoked")
        if op.position is not None:
            at = bisect.bisect_right(self._done, op.done)
            self._done.insert(at, op.done)
            self._positions.insert(at, op.position)


def judge(entries: tuple[CommittedEntry, ...], calls: tuple[ClientCall, ...], model: StoreModel) -> Judgement:
    """Judge a whole history at once."""
    return ResponseJudge(model).update(entries, calls)


def _entry_op(entry: CommittedEntry, call: ClientCall | None) -> _Op:
    """An entry takes effect between its client's invocation and the earlier of its first
    application and its completion; an entry without a client, at its first application."""
    applied = entry.applied_after - 0.5  # between two history events
    if call is None:
        return _Op(applied, applied, 2 * entry.index, entry=entry)
    done = min(call.completed if call.completed is not None else NEVER, applied)
    return _Op(call.invoked, done, 2 * entry.index, call=call, entry=entry)


def _judge_write(call: ClientCall, entry: CommittedEntry | None, replay: Replay, verdict: Judgement) -> None:
    if call.answer is None:
        return  # unknown: it happened exactly if it is in the log, and the log is judged
    if entry is None:
        verdict.mismatches.append(f"{call.client}#{call.request_id} {call.text} was answered "
                                  f"{describe_answer(call.answer)}, but it never committed")
        return
    found = replay.answer_at(entry.index - 1, call.request, call.answer)
    if found:
        verdict.mismatches.append(f"{call.client}#{call.request_id} {call.text} (entry {entry.index}): {found}")


def _candidates(call: ClientCall, replay: Replay) -> range:
    revision = call.answer.get("revision")
    return replay.positions(revision) if isinstance(revision, int) else range(len(replay.states))


def _matching(call: ClientCall, replay: Replay, positions) -> int | None:
    return next((q for q in positions if replay.answer_at(q, call.request, call.answer) is None), None)


def _no_state(call: ClientCall, replay: Replay) -> str:
    """No state of the model answers this: say how the likeliest one differs."""
    positions = _candidates(call, replay)
    closest = positions[-1] if positions else len(replay.states) - 1
    found = replay.answer_at(closest, call.request, call.answer)
    return (f"{call.client}#{call.request_id} {call.text}: {found} (in the store's state at revision "
            f"{replay.states[closest].revision})")


def _place_read(call: ClientCall, bound: int, replay: Replay, verdict: Judgement) -> int | None:
    """The earliest state real time allows (at or after ``bound``) that gives the read its
    answer, as a position; None when there is none. Then the read is stale if an older state at
    the revision it claims answers so; otherwise its answer is wrong. The older state may have
    the very revision real time requires: a lease granted, revoked or expired without keys, or
    a compaction, changes the state but not the revision, so a deposed leader that missed one
    answers from before it with the current revision."""
    positions = _candidates(call, replay)
    earliest = max(positions.start, bound // 2)
    found = _matching(call, replay, range(earliest, positions.stop))
    if found is not None:
        return 2 * found + 1
    if _matching(call, replay, range(positions.start, min(earliest, positions.stop))) is None:
        verdict.mismatches.append(_no_state(call, replay))
        return None
    state = replay.states[min(bound // 2, len(replay.states) - 1)]
    verdict.stale.append(f"{call.client}#{call.request_id} {call.text} answered {describe_answer(call.answer)}: "
                         f"the store's answer in an earlier state, but before it was sent the store had "
                         f"reached revision {state.revision} (entry {bound // 2})")
    return None


def revoke_problems(entries: tuple[CommittedEntry, ...], replay: Replay, since: int = 0) -> list[str]:
    """LEASE-REVOKE-COMPLETE: each revoke that applied (a client's, or the leader's for an
    expired lease) deleted exactly the keys attached to the lease, one DELETE event each, all
    at one new revision. Only the entries from position ``since`` on are looked at."""
    replay.extend(entries)
    problems = []
    for entry in entries[since:]:
        if type(entry.request).__name__ != "LeaseRevokeRequest" or (entry.answer or {}).get("error"):
            continue
        before = replay.states[entry.index - 1]
        attached = before.attached(entry.request.id)
        deleted = tuple(e["kv"]["key"] for e in entry.events if e["type"] == "DELETE")
        revisions = {e["kv"]["mod_revision"] for e in entry.events}
        others = [e for e in entry.events if e["type"] != "DELETE"]
        if sorted(deleted) != list(attached) or others or revisions - {before.revision + 1}:
            problems.append(f"entry {entry.index} ({entry.text}): lease {entry.request.id} had "
                            f"{describe(attached)} attached; the revoke produced {describe(entry.events)}")
    return problems
