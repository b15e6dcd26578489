"""The store's invariants: what a replicated etcd keeps, as predicates over plain observations.

``EtcdView`` is what a check gathers from a run: the committed history (every revision's
events, from the log entries the members applied), every watch stream a client opened, the
streams of each logical watch in the order the client resumed them, and how each applied
entry moved a member's revision. Linearizability is judged by a search over the whole client
history (checks/lincheck, with ``spec.kv.model.KV`` as the sequential specification), so its
invariant carries no predicate here.

Sources: etcd v3.5 documentation, "API guarantees" (KV: strict serializability; Watch APIs:
ordered, unique, reliable, atomic, resumable, bookmarkable) and "API" (revisions, Watch,
compact_revision); etcd's robustness tests (tests/robustness/validate).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.invariant import Invariant
from spec.kv.watch import (
    History, WatchStream, check_atomic, check_bookmarkable, check_compacted_start, check_ordered,
    check_prev_kv, check_reliable, check_same_watch, check_unique, check_whole_revisions, merge_streams,
)

__all__ = ["EtcdView", "AppliedStep", "INVARIANTS", "LINEARIZABLE"]


@dataclass(frozen=True)
class AppliedStep:
    """One log entry applied by one member: the revision before and after, and how many
    events (changed keys) it produced."""

    member: str
    index: int
    revision_before: int
    revision_after: int
    events: int
    request: str


@dataclass(frozen=True)
class EtcdView:
    history: History
    streams: tuple[WatchStream, ...] = ()
    resumed: tuple[tuple[WatchStream, ...], ...] = ()  # per logical watch, its streams in order
    applied: tuple[AppliedStep, ...] = ()


def _revisions(view: EtcdView) -> list[str]:
    problems = []
    for step in view.applied:
        expected = step.revision_before + (1 if step.events else 0)
        if step.revision_after != expected:
            problems.append(f"{step.member} applied entry {step.index} ({step.request}): revision "
                            f"{step.revision_before} -> {step.revision_after} with {step.events} "
                            f"changed keys; expected {expected}")
    return problems


def _per_stream(check):
    def predicate(view: EtcdView) -> list[str]:
        return [problem for stream in view.streams for problem in check(view.history, stream)]
    return predicate


def _per_stream_and_resumed(check, across=None):
    """A guarantee that holds for each stream and, across resumptions, for the stream the
    client sees (Resumable: a watch reopened at last revision + 1 continues exactly).
    ``across`` is the part judged on the merged stream, when not all of ``check``."""
    def predicate(view: EtcdView) -> list[str]:
        problems = _per_stream(check)(view)
        for streams in view.resumed:
            if len(streams) > 1:
                problems += [f"across {len(streams)} resumed streams: {problem}"
                             for problem in (across or check)(view.history, merge_streams(streams))]
        return problems
    return predicate


def _resumable(view: EtcdView) -> list[str]:
    return [problem for streams in view.resumed for first, second in zip(streams, streams[1:])
            for problem in check_same_watch(first, second)]


_GUARANTEES = "etcd v3.5 docs, \"API guarantees\", Watch APIs"

KV_REVISIONS = Invariant(
    "KV-REVISIONS", "etcd",
    "The store's revision counts changes: a request that changes at least one key advances it "
    "by exactly one, however many keys it changed; a request that changes nothing (a read, "
    "deleting a missing key, a failed compare) leaves it alone. Every member applies the same "
    "log, so every member passes through the same revisions.",
    "etcd v3.5 docs, \"Data model\" (revisions) and \"API\" (Revision)",
    "Clients and the Kubernetes API server use revisions as resourceVersions: to resume "
    "watches, for optimistic concurrency, to compare freshness. A revision without a change "
    "makes a watch from it wait for an event that never comes, and members disagree on what "
    "revision N means.",
    _revisions)

LINEARIZABLE = Invariant(
    "KV-LINEARIZABLE", "etcd",
    "The history of gets, puts, deletes and compare-and-set txns that clients saw can be put in "
    "one order, consistent with real time, in which each answer is what a single copy of the "
    "store would give (the KV model in spec/kv/model.py). A request whose outcome the client "
    "could not learn may take effect at any point after it was sent, or never. Serializable "
    "reads are exempt: they may be stale by design.",
    "etcd v3.5 docs, \"API guarantees\" (KV APIs: strict serializability, linearizable reads); "
    "Herlihy & Wing 1990",
    "A linearizable read that returns an old value lets a controller act on a world that is "
    "gone: two leaders of a lease-based election, a scheduler that double-books a node.",
    None)

WATCH_COMPACTED = Invariant(
    "WATCH-COMPACTED-CANCELS", "etcd",
    "A watch whose start revision was compacted before it was created is cancelled with "
    "compact_revision set and delivers nothing; it never silently starts later.",
    "etcd v3.5 docs, \"API\", Watch (compact_revision)",
    "A client that asked for history from revision r and silently got it from a later one "
    "believes it saw every change: an informer's cache keeps objects that were deleted.",
    _per_stream(check_compacted_start))

WATCH_ATOMIC = Invariant(
    "WATCH-ATOMIC", "etcd",
    "All events of one revision (one txn) arrive in the same watch response; across the "
    "streams of a resumed watch, a revision it delivered part of and then moved past was "
    "delivered whole.",
    _GUARANTEES + ": Atomic",
    "A watcher that sees half a txn acts on a state that never existed, such as a pod's new "
    "spec without the status written with it.",
    _per_stream_and_resumed(check_atomic, across=check_whole_revisions))

WATCH_BOOKMARKABLE = Invariant(
    "WATCH-BOOKMARKABLE", "etcd",
    "A progress notification at revision r promises that every event at a revision <= r "
    "matching the watch has already been delivered; no such event may follow it.",
    _GUARANTEES + ": Bookmarkable; etcd issue #15220",
    "The API server's watch cache uses progress notifications to serve consistent reads from "
    "cache; a notification ahead of its events serves a list that misses writes.",
    _per_stream(check_bookmarkable))

WATCH_PREV_KV = Invariant(
    "WATCH-PREV-KV", "etcd",
    "With prev_kv requested, each event carries the key's state at revision - 1 (none for a "
    "creation, or when revision - 1 is compacted); without it, none.",
    "etcd v3.5 docs, \"API\", Watch (prev_kv); robustness tests, validatePrevKV",
    "Controllers diff the old and new object from prev_kv; a wrong one triggers the wrong "
    "reconcile, or none.",
    _per_stream(check_prev_kv))

WATCH_ORDERED = Invariant(
    "WATCH-ORDERED", "etcd",
    "Events arrive in revision order, within and across responses, also across the streams "
    "of a resumed watch; no event precedes one already delivered.",
    _GUARANTEES + ": Ordered; etcd issue #15271",
    "A cache that applies an older event after a newer one goes back in time: a deleted "
    "object reappears.",
    _per_stream_and_resumed(check_ordered))

WATCH_UNIQUE = Invariant(
    "WATCH-UNIQUE", "etcd",
    "No event is delivered twice, also across the streams of a resumed watch.",
    _GUARANTEES + ": Unique; etcd issue #17247",
    "Event-counting consumers double count; an informer replays an update it already handled.",
    _per_stream_and_resumed(check_unique))

WATCH_RELIABLE = Invariant(
    "WATCH-RELIABLE", "etcd",
    "No gap: every committed event matching the watch, from its start up to the last "
    "revision it delivered, is delivered (inside the history compaction left), also across "
    "the streams of a resumed watch.",
    _GUARANTEES + ": Reliable; etcd issues #17529, #18089",
    "A missed DELETE leaves a ghost object in every cache built from the watch, forever.",
    _per_stream_and_resumed(check_reliable))

WATCH_RESUMABLE = Invariant(
    "WATCH-RESUMABLE", "etcd",
    "A watch the client reopens after its stream broke asks for the same key or range with the "
    "same options. Where it starts is judged by what it delivers: the streams of one resumed "
    "watch together must be ordered, unique and reliable (WATCH-ORDERED, WATCH-UNIQUE, "
    "WATCH-RELIABLE), which holds when it starts right after the last event received.",
    _GUARANTEES + ": Resumable",
    "A resumed watch that changed its options or start looks continuous to the application "
    "but is not the watch it asked for.",
    _resumable)

INVARIANTS: tuple[Invariant, ...] = (
    KV_REVISIONS, WATCH_COMPACTED, WATCH_ATOMIC, WATCH_BOOKMARKABLE, WATCH_PREV_KV,
    WATCH_ORDERED, WATCH_UNIQUE, WATCH_RELIABLE, WATCH_RESUMABLE, LINEARIZABLE,
)
"""In the order a check reports them: the cheap, local ones first."""
