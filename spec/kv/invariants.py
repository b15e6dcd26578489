"""The store's invariants: what a replicated etcd keeps, as predicates over plain observations.

``EtcdView`` is what a check gathers from a run: the committed history (every revision's
events, from the log entries the members applied), every watch stream a client opened, the
streams of each logical watch in the order the client resumed them, how each applied entry
moved a member's revision, the committed log with what each entry answered, every request a
client completed with its whole answer, and the members that know no leader.
Linearizability is judged by a search over the values of the client history (checks/lincheck,
with ``spec.kv.model.KV`` as the sequential specification) and, for every answer whole, by the
judge of spec/kv/responses.py against the etcd model of spec/kv/store_model.py (which also
decides KV-RESPONSE-MATCHES-MODEL), so its invariant carries no predicate here.

Sources: etcd v3.5 documentation, "API guarantees" (KV: strict serializability; Watch APIs:
ordered, unique, reliable, atomic, resumable, bookmarkable) and "API" (revisions, Watch,
compact_revision, leases); etcd's robustness tests (tests/robustness/model and validate).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.invariant import Invariant
from spec.kv.responses import ClientCall, CommittedEntry, Replay, judge, revoke_problems
from spec.kv.store_model import StoreModel
from spec.kv.watch import (
    History, WatchStream, check_atomic, check_bookmarkable, check_compacted_start, check_filter,
    check_is_create, check_ordered, check_prev_kv, check_reliable, check_same_watch, check_unique,
    check_whole_revisions, merge_streams,
)

__all__ = ["EtcdView", "AppliedStep", "LeaderlessMember", "INVARIANTS", "LINEARIZABLE", "KV_REVISIONS",
           "RESPONSES", "LEASE_REVOKE_COMPLETE", "WATCH_NO_LEADER", "NO_LEADER_TIMEOUTS", "LEASE_EXPIRES",
           "LeaseLeft", "LEASE_EXPIRY_TIMEOUTS"]

# etcd's monitorLeader looks for a leader once per election timeout and cancels the streams of
# a member that found none three times in a row: at most four timeouts after it lost it.
NO_LEADER_TIMEOUTS = 4
# A lease nobody keeps alive is gone within its TTL plus this many election timeouts on a healthy
# cluster: one for lessor.Promote's extension after a leader change, the rest for the revocation
# to commit and apply.
LEASE_EXPIRY_TIMEOUTS = 4


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
class LeaseLeft:
    """A lease no committed revoke has ended ``ticks`` ticks after the last keep-alive anyone could
    send (alive in the model of the committed log)."""

    lease_id: int
    ttl: int
    ticks: int
    keys: int  # keys still attached to it


@dataclass(frozen=True)
class LeaderlessMember:
    """A member that has known no leader for ``ticks`` ticks, with the watch streams it still
    serves."""

    member: str
    ticks: int
    open_streams: int
    election_timeout_ticks: int


@dataclass(frozen=True)
class EtcdView:
    history: History
    streams: tuple[WatchStream, ...] = ()
    resumed: tuple[tuple[WatchStream, ...], ...] = ()  # per logical watch, its streams in order
    applied: tuple[AppliedStep, ...] = ()
    entries: tuple[CommittedEntry, ...] = ()  # the committed log, as the first member applied it
    calls: tuple[ClientCall, ...] = ()  # every answered request, whole
    leaderless: tuple[LeaderlessMember, ...] = ()


def _revisions(view: EtcdView) -> list[str]:
    problems = []
    for step in view.applied:
        expected = step.revision_before + (1 if step.events else 0)
        if step.revision_after != expected:
            problems.append(f"{step.member} applied entry {step.index} ({step.request}): revision "
                            f"{step.revision_before} -> {step.revision_after} with {step.events} "
                            f"changed keys; expected {expected}")
    return problems


def _leaderless(view: EtcdView) -> list[str]:
    problems = []
    for member in view.leaderless:
        bound = NO_LEADER_TIMEOUTS * member.election_timeout_ticks
        if member.open_streams and member.ticks > bound:
            problems.append(f"{member.member} has known no leader for {member.ticks} ticks (bound {bound}) "
                            f"and still serves {member.open_streams} watch stream(s)")
    return problems


def _responses(view: EtcdView) -> list[str]:
    return judge(view.entries, view.calls, StoreModel()).mismatches


def _revokes(view: EtcdView) -> list[str]:
    return revoke_problems(view.entries, Replay(StoreModel()))


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
    "The history of requests that clients saw can be put in one order, consistent with real "
    "time, in which each answer is what a single copy of the store would give: by value (the KV "
    "model in spec/kv/model.py, for gets, puts, deletes, compare-and-set and txns of puts), and "
    "whole (the etcd model, for every request: a read answered from a state older than one real "
    "time requires is stale). A request whose outcome the client could not learn may take effect "
    "at any point after it was sent, or never. Writes whose effect on each key the client cannot "
    "state (a lease's revocation, or its expiry, which the leader decides; a ranged delete) take "
    "effect where the log puts them, when a member first applied them. Serializable reads are "
    "exempt: they may be stale by design.",
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

RESPONSES = Invariant(
    "KV-RESPONSE-MATCHES-MODEL", "etcd",
    "Every answer a client receives is the answer of the etcd model (spec/kv/store_model.py) at a "
    "point where the request may have taken effect, field for field: the header revision, each "
    "key's create_revision, mod_revision, version, value and lease (version 1 and a new "
    "create_revision after a delete and re-create), count and more of a range with a limit, the "
    "keys alive at revision R for a read at R, the error (ErrCompacted below the compacted "
    "revision, ErrFutureRev above the current one, for a read or a compaction), and the lease "
    "answers (a keep-alive of an expired or revoked lease is \"lease not found\", its "
    "time-to-live TTL -1). A write takes effect at its place in the log; so does what the member "
    "that first applied each log entry answered, and the events it produced (which every watch "
    "is judged against).",
    "etcd v3.5 docs, \"Data model\", \"API\" (ResponseHeader, KeyValue, RangeResponse, Lease API) "
    "and \"API guarantees\"; etcd robustness tests, tests/robustness/model",
    "Clients act on every field: the API server turns mod_revision into resourceVersion and "
    "compares it for optimistic concurrency, an informer pages with limit and more, a controller "
    "reads an old revision to list consistently; a wrong field is a wrong decision, however "
    "right the value.",
    _responses)

LEASE_REVOKE_COMPLETE = Invariant(
    "LEASE-REVOKE-COMPLETE", "etcd",
    "A lease's revocation (by a client, or by the leader once it expired) deletes exactly the "
    "keys attached to the lease at that point of the log, every one of them, with one DELETE "
    "event per key, all in one new revision (none when no key was attached).",
    "etcd v3.5 docs, \"API\", Lease API (\"when a lease expires or is revoked, all keys attached "
    "to it are deleted\"); lessor.Revoke deletes them in one txn",
    "Leases carry liveness: a leader-election key or a service registration must vanish with its "
    "owner's lease; one key left behind is a dead owner that looks alive forever.",
    _revokes)

WATCH_FILTER = Invariant(
    "WATCH-FILTER", "etcd",
    "Every event a watch delivers is a committed change exactly as committed (type, key, value, "
    "create_revision, mod_revision, version), of a key in the watched key or range, at a "
    "revision at or after the watch's start revision.",
    _GUARANTEES + "; etcd robustness tests, validateFilter and validateEventsMatch",
    "A watcher applies what it is sent: an event outside its range or before its start is a "
    "change it already saw or never asked for, and a different event is a state that never was.",
    _per_stream(check_filter))

WATCH_IS_CREATE = Invariant(
    "WATCH-IS-CREATE", "etcd",
    "A PUT event reads as a creation (create_revision equal to mod_revision) exactly when it "
    "created its key: the key did not exist just before (its committed version is 1).",
    "etcd v3.5 docs, \"API\", Watch (Event, KeyValue.create_revision); etcd robustness tests, "
    "isCreate in validateEventsMatch",
    "Informers tell ADDED from MODIFIED by it; a creation read as an update (or the reverse) "
    "skips a controller's set-up or repeats it.",
    _per_stream(check_is_create))

WATCH_NO_LEADER = Invariant(
    "WATCH-NO-LEADER-CANCELS", "etcd",
    f"A member that has known no leader for more than {NO_LEADER_TIMEOUTS} election timeouts serves "
    "no watch stream: it has cancelled each one (\"etcdserver: no leader\"), so its client "
    "resumes on a member that has a leader. Bound: 4 x election_timeout_ticks (etcd's "
    "monitorLeader checks once per election timeout and cancels after three checks without a "
    "leader).",
    "etcd server/etcdserver/api/v3rpc/interceptor.go (monitorLeader, maxNoLeaderCnt = 3); "
    "clientv3.WithRequireLeader, which the Kubernetes API server's etcd3 watcher uses",
    "A member cut off from the cluster applies nothing more: its watchers would wait, quietly "
    "stale, forever, while progress notifications tell them they are up to date.",
    _leaderless)

def _leases_expire(left: tuple[LeaseLeft, ...]) -> list[str]:
    return [f"lease {lease.lease_id} (TTL {lease.ttl}) was not revoked {lease.ticks} ticks after anyone last "
            f"could keep it alive (no revoke of it committed), with {lease.keys} key{'' if lease.keys == 1 else 's'} "
            f"attached"
            for lease in left][:1]


LEASE_EXPIRES = Invariant(
    "LEASE-EXPIRES", "etcd",
    "On a healthy cluster (every member up and connected, a leader), a lease that nobody keeps alive is "
    f"revoked within its TTL plus {LEASE_EXPIRY_TIMEOUTS} election timeouts: a revoke of it is committed (what the "
    "revoke does to the store, the lease and its keys gone, is KV-RESPONSE-MATCHES-MODEL's and "
    "LEASE-REVOKE-COMPLETE's). "
    f"Bound: TTL + {LEASE_EXPIRY_TIMEOUTS} x election_timeout_ticks (lessor.Promote extends every deadline by "
    "an election timeout when a leader takes over).",
    "etcd v3.5 docs, \"API\", Lease API (a lease expires when its TTL passes without a keep-alive); "
    "etcd server/lease/lessor.go (the primary lessor revokes expired leases, Promote)",
    "A lease is how a dead client's keys go away: a leader-election lock or a registration whose lease is "
    "never revoked keeps a dead owner in charge for ever.",
    _leases_expire)

INVARIANTS: tuple[Invariant, ...] = (
    KV_REVISIONS, WATCH_NO_LEADER, LEASE_REVOKE_COMPLETE, WATCH_COMPACTED, WATCH_IS_CREATE, WATCH_FILTER,
    WATCH_ATOMIC, WATCH_BOOKMARKABLE, WATCH_PREV_KV, WATCH_ORDERED, WATCH_UNIQUE, WATCH_RELIABLE,
    WATCH_RESUMABLE, LINEARIZABLE, RESPONSES, LEASE_EXPIRES,
)
"""In the order a check reports them: the cheap, local ones first."""
