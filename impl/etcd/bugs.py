"""The etcd bug catalog: each bug replaces one small method of a member, its store or a
client (named in the docstring), and names the invariant of spec/kv it breaks.

Read each override next to the reference method: the difference is the lesson. The catalog
entry's ``override`` is an ``EtcdParts`` value naming the class to use instead.
"""

from __future__ import annotations

from impl.catalog import Bug
from impl.etcd.client import EtcdClient, LogicalWatch
from impl.etcd.lease import NO_LEASE
from impl.etcd.member import EtcdMember
from impl.etcd.messages import ClientRequest, WatchCreate
from impl.etcd.mvcc import Store
from impl.etcd.parts import EtcdParts
from impl.etcd.read_index import PendingRead
from impl.etcd.types import DeleteRangeRequest, Event, KeyValue, LeaseRevokeResponse
from impl.etcd.watch import Watcher
from impl.etcd.watch_streams import Stream

__all__ = ["BUGS"]


# ----- reads ----------------------------------------------------------------------------------

class StaleFollowerRead(EtcdMember):
    """Replaces ReadIndexMixin._linearizable_read."""

    def _linearizable_read(self, src: str, request: ClientRequest) -> None:
        if self.is_leader:
            self._start_read(("client", src, request))
        else:
            self._serve_read(src, request)  # answers from its own store, however far behind


class ReadWithoutReadIndex(EtcdMember):
    """Replaces ReadIndexMixin._leadership_confirmed."""

    def _leadership_confirmed(self, read: PendingRead) -> bool:
        return True  # "I am the leader" without asking: a deposed leader answers from the past


# ----- the store ------------------------------------------------------------------------------

class BumpOnNoopDeleteStore(Store):
    """Replaces Store.execute."""

    def execute(self, request):
        response = super().execute(request)
        if isinstance(request, DeleteRangeRequest) and response.deleted == 0:
            self._revision += 1  # counts a delete of nothing as a change
        return response


class RevisionBumpOnNoopDelete(EtcdMember):
    store_class = BumpOnNoopDeleteStore


class StartAfterCompactionStore(Store):
    """Replaces Store.watch."""

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        if 0 < start_revision < self._compacted:
            start_revision = self._compacted  # quietly starts where history still exists
        return super().watch(key, range_end, start_revision=start_revision, prev_kv=prev_kv)


class WatchStartsAfterCompaction(EtcdMember):
    store_class = StartAfterCompactionStore


class PrevKvAtOwnRevisionStore(Store):
    """Replaces Store._with_prev_kv."""

    def _with_prev_kv(self, event: Event, wanted: bool) -> Event:
        is_create = event.type == "PUT" and event.kv.create_revision == event.kv.mod_revision
        if not wanted or is_create:
            return event
        history = self._histories.get(event.kv.key)
        previous = history.at(event.revision) if history else None  # the key *after* the change
        return Event(event.type, event.kv, previous)


class PrevKvReadsOwnRevision(EtcdMember):
    store_class = PrevKvAtOwnRevisionStore


class VersionAcrossDeleteStore(Store):
    """Replaces Store._next_state."""

    def _next_state(self, key: bytes, previous: KeyValue | None, value: bytes, lease: int,
                    revision: int) -> KeyValue:
        if previous is None:  # absent now: but it had a life before its deletion
            history = self._histories.get(key)
            lived = [state for state in history._states if state is not None] if history else []
            if lived:  # carries on that life instead of starting a new generation
                return KeyValue(key, lived[-1].create_revision, revision, lived[-1].version + 1, value, lease)
        return super()._next_state(key, previous, value, lease, revision)


class VersionContinuesAfterRecreate(EtcdMember):
    store_class = VersionAcrossDeleteStore


class CountAfterLimitStore(Store):
    """Replaces Store._page."""

    @staticmethod
    def _page(kvs: list[KeyValue], limit: int) -> tuple[list[KeyValue], int, bool]:
        shown = kvs[:limit] if limit > 0 else kvs
        return shown, len(shown), 0 < limit < len(kvs)  # counts the page, not the range


class RangeCountAfterLimit(EtcdMember):
    store_class = CountAfterLimitStore


class PastReadSkipsDeletedStore(Store):
    """Replaces Store.kvs_at."""

    def kvs_at(self, key: bytes, range_end: bytes, revision: int) -> list[KeyValue]:
        alive = {kv.key for kv in super().kvs_at(key, range_end, self._revision)}
        # walks the keys alive now: a key deleted since `revision` is missed at `revision`
        return [kv for kv in super().kvs_at(key, range_end, revision) if kv.key in alive]


class PastReadSkipsDeletedKeys(EtcdMember):
    store_class = PastReadSkipsDeletedStore


class RevokeKeepsLeaseStore(Store):
    """Replaces Store.lease_revoke."""

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        self._delete_keys(sorted(self._lessor.get(lease_id).keys))
        return LeaseRevokeResponse(self._revision)  # the keys are gone, but the lease is never removed


class RevokeKeepsLease(EtcdMember):
    store_class = RevokeKeepsLeaseStore


class AttachOnlyNewKeysStore(Store):
    """Replaces Store._move_lease."""

    def _move_lease(self, key: bytes, old: int, new: int) -> None:
        if old != NO_LEASE:
            self._lessor.detach(old, key)  # an if/elif where both were needed:
        elif new != NO_LEASE:
            self._lessor.attach(new, key)  # a key that had a lease is never attached again


class LeaseAttachSkippedOnUpdate(EtcdMember):
    store_class = AttachOnlyNewKeysStore


class StartAtCurrentStore(Store):
    """Replaces Store.watch."""

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        start = start_revision or self._revision  # "from now" read as the current revision, not the next
        return super().watch(key, range_end, start_revision=start, prev_kv=prev_kv)


class WatchFromNowIncludesCurrent(EtcdMember):
    store_class = StartAtCurrentStore


class ReplayWithLatestCreateStore(Store):
    """Replaces Store.watch."""

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        watcher = super().watch(key, range_end, start_revision=start_revision, prev_kv=prev_kv)
        replayed = []
        for event in watcher.pending:  # history a watch from the past catches up on
            latest = self._latest(event.kv.key)
            if event.type == "PUT" and event.kv.version == 1 and latest is not None:  # a creation, dated
                # by the key's latest life: the creation of a key re-created since reads as an update
                event = Event("PUT", KeyValue(event.kv.key, latest.create_revision, event.kv.mod_revision,
                                              event.kv.version, event.kv.value, event.kv.lease), event.prev_kv)
            replayed.append(event)
        watcher.pending = replayed
        return watcher


class ReplayCreateRevisionFromLatest(EtcdMember):
    store_class = ReplayWithLatestCreateStore


# ----- watch streams on a member ---------------------------------------------------------------

class StreamsKeptWithoutLeader(EtcdMember):
    """Replaces EtcdMember._leader_changed."""

    def _leader_changed(self, old: str | None, new: str | None) -> None:
        if old is not None and new is not None:  # cancels when the leader changes, not when it is lost
            self._cancel_streams("etcdserver: leader changed")


class ProgressBeforeEvents(EtcdMember):
    """Replaces WatchStreamsMixin._synced."""

    def _synced(self, stream: Stream) -> bool:
        return True  # a progress notification no longer waits for the catch-up to finish


class SplitTxnEvents(EtcdMember):
    """Replaces WatchStreamsMixin._group."""

    @staticmethod
    def _group(events: list[Event]) -> list[tuple[Event, ...]]:
        return [(event,) for event in events]  # one response per event, not per revision


class CatchUpNewestFirst(EtcdMember):
    """Replaces WatchStreamsMixin._next_batch."""

    def _next_batch(self, stream: Stream) -> list[tuple[Event, ...]]:
        batch = stream.queue[::-1]  # everything pending in one response, newest revision first
        stream.queue.clear()
        return batch


# ----- clients --------------------------------------------------------------------------------

class GapOnResume(EtcdClient):
    """Replaces EtcdClient._resume_revision."""

    def _resume_revision(self, logical: LogicalWatch) -> int:
        if logical.last_revision:
            # After the last header revision: but a stream that was still catching up had not
            # sent every event up to its header yet, so those are skipped.
            return logical.last_header + 1
        return logical.resolved_start or logical.start_revision


class DuplicateOnResume(EtcdClient):
    """Replaces EtcdClient._resume_revision."""

    def _resume_revision(self, logical: LogicalWatch) -> int:
        if logical.last_revision:
            return logical.last_revision  # the last revision seen, not the one after it
        return logical.resolved_start or logical.start_revision


class ResumeWithoutPrevKv(EtcdClient):
    """Replaces EtcdClient._watch_request."""

    @staticmethod
    def _watch_request(logical: LogicalWatch, watch_id: int, start: int) -> WatchCreate:
        first = not logical.resolved_start  # no stream of this watch was created yet
        return WatchCreate(watch_id, logical.key, logical.range_end, start, logical.prev_kv and first)


_ETCD_DOCS = "etcd v3.5 docs"

class RevokingNeverForgets(EtcdMember):
    """Replaces EtcdMember._lease_gone."""

    def _lease_gone(self, lease_id: int) -> None:
        pass  # the ID stays marked "revocation proposed": a later lease with that ID never expires


BUGS: tuple[Bug, ...] = (
    Bug("stale-follower-read", "etcd", "KV-LINEARIZABLE",
        "A follower answers a linearizable read from its own store instead of asking the leader "
        "for a read index, so a lagging or cut-off follower returns old values",
        "etcd v3.5 docs, \"API guarantees\" (linearizable reads); Jepsen etcd 3.4.3 analysis "
        "(2020): stale reads with serializable reads, the documented trade-off",
        EtcdParts(member=StaleFollowerRead)),
    Bug("read-without-read-index", "etcd", "KV-LINEARIZABLE",
        "The leader serves linearizable reads without confirming with a quorum that it still "
        "leads; a leader cut off by a partition keeps answering from a past the majority moved on from",
        "Jepsen etcd 0.4.1 analysis (2014): stale reads from a deposed leader, which led to etcd's "
        "quorum reads and later ReadIndex; Raft thesis §6.4",
        EtcdParts(member=ReadWithoutReadIndex)),
    Bug("revision-bump-on-noop-delete", "etcd", "KV-REVISIONS",
        "Deleting a key that does not exist advances the store's revision although nothing changed",
        _ETCD_DOCS + ", \"Data model\": the revision counts modifications",
        EtcdParts(member=RevisionBumpOnNoopDelete)),
    Bug("watch-starts-after-compaction", "etcd", "WATCH-COMPACTED-CANCELS",
        "A watch from a compacted revision silently starts at the compaction point instead of "
        "being cancelled with compact_revision, so the client never learns it missed history",
        _ETCD_DOCS + ", \"API\", Watch: compact_revision",
        EtcdParts(member=WatchStartsAfterCompaction)),
    Bug("prev-kv-reads-own-revision", "etcd", "WATCH-PREV-KV",
        "prev_kv is read at the event's own revision, so it shows the key after the change "
        "instead of before it",
        "etcd robustness tests, validatePrevKV",
        EtcdParts(member=PrevKvReadsOwnRevision)),
    Bug("progress-before-events", "etcd", "WATCH-BOOKMARKABLE",
        "A progress notification is sent at the store's revision while the stream is still "
        "catching up, promising events it has not delivered yet",
        "etcd issue #15220 (progress notification ahead of events, fixed in 3.5.8)",
        EtcdParts(member=ProgressBeforeEvents)),
    Bug("split-txn-events", "etcd", "WATCH-ATOMIC",
        "The events of one txn go out in separate watch responses, so a watcher can act on "
        "half a transaction",
        _ETCD_DOCS + ", \"API guarantees\", Watch: Atomic",
        EtcdParts(member=SplitTxnEvents)),
    Bug("catch-up-newest-first", "etcd", "WATCH-ORDERED",
        "A watch catching up on history gets all its pending revisions in one response, newest "
        "first, so the stream goes back in time",
        "etcd issue #15271 (watch going back in time after a partition and snapshot)",
        EtcdParts(member=CatchUpNewestFirst)),
    Bug("watch-gap-on-leader-change", "etcd", "WATCH-RELIABLE",
        "When a member loses its leader and cancels the stream, the client resumes after the last "
        "header revision it saw instead of after its last event, and misses the events the stream "
        "had not caught up to",
        "etcd issues #17529 and #18089 (lost watch events); clientv3 resumes from the last revision + 1",
        EtcdParts(client=GapOnResume)),
    Bug("duplicate-event-on-resume", "etcd", "WATCH-UNIQUE",
        "A resumed watch starts at the last revision the client saw instead of the one after, "
        "so that revision's events arrive twice",
        "etcd issue #17247 (duplicated watch event)",
        EtcdParts(client=DuplicateOnResume)),
    Bug("version-continues-after-recreate", "etcd", "KV-RESPONSE-MATCHES-MODEL",
        "A key deleted and written again continues its old life: its version goes on counting and "
        "its create_revision stays the first creation's, instead of version 1 at a new create_revision",
        _ETCD_DOCS + ", \"Data model\": a deletion ends a key's generation, version is reset; etcd's "
        "keyIndex starts a new generation after each tombstone",
        EtcdParts(member=VersionContinuesAfterRecreate)),
    Bug("range-count-after-limit", "etcd", "KV-RESPONSE-MATCHES-MODEL",
        "A range with a limit reports as its count the number of keys it returned, not the number of "
        "keys in the range, so a client paging with limit cannot tell how many remain",
        _ETCD_DOCS + ", \"API\", RangeResponse: count is the number of keys within the range, more "
        "says whether there are more than the limit",
        EtcdParts(member=RangeCountAfterLimit)),
    Bug("past-read-skips-deleted-keys", "etcd", "KV-RESPONSE-MATCHES-MODEL",
        "A read at a past revision walks only the keys alive now, so a key deleted since that revision "
        "is missing from it",
        _ETCD_DOCS + ", \"API\", Range: revision is the point-in-time of the key-value store to use; "
        "etcd's treeIndex keeps deleted keys until compaction for exactly this",
        EtcdParts(member=PastReadSkipsDeletedKeys)),
    Bug("revoke-keeps-lease", "etcd", "KV-RESPONSE-MATCHES-MODEL",
        "Revoking a lease deletes its keys but leaves the lease in the lease table: keep-alive and "
        "time-to-live go on answering for it, and a new key can still be attached to it",
        _ETCD_DOCS + ", \"API\", Lease API: a revoked lease is gone (LeaseKeepAlive and LeaseTimeToLive "
        "answer that it does not exist)",
        EtcdParts(member=RevokeKeepsLease)),
    Bug("lease-attach-skipped-on-update", "etcd", "LEASE-REVOKE-COMPLETE",
        "A put that names a lease attaches the key only if it had no lease before, so a key written "
        "again under its lease drops out of the lease and outlives its revocation or expiry",
        "etcd server/storage/mvcc/kvstore_txn.go (put: detach from the old lease, then attach to the "
        "new one, for every put); " + _ETCD_DOCS + ", \"API\", Lease API",
        EtcdParts(member=LeaseAttachSkippedOnUpdate)),
    Bug("watch-from-now-includes-current", "etcd", "WATCH-FILTER",
        "A watch without a start revision starts at the current revision instead of the next one, so "
        "it delivers the change the client already read before it asked to watch",
        _ETCD_DOCS + ", \"API\", Watch: start_revision 0 watches from the next revision (etcd's "
        "watchableStore sets the start to currentRev + 1)",
        EtcdParts(member=WatchFromNowIncludesCurrent)),
    Bug("replay-create-revision-from-latest", "etcd", "WATCH-IS-CREATE",
        "A watch that catches up on history dates each creation by the key's latest life (its "
        "create_revision), so the creation of a key that was deleted and re-created since reads as an update",
        "etcd robustness tests, isCreate in validateEventsMatch; Kubernetes informers tell ADDED from "
        "MODIFIED by create_revision",
        EtcdParts(member=ReplayCreateRevisionFromLatest)),
    Bug("revoking-never-forgets", "etcd", "LEASE-EXPIRES",
        "The leader remembers the leases whose revocation it proposed for the whole term, so a new "
        "lease that reuses a revoked lease's ID is never revoked when it expires",
        "found in this reference by a mutant written blind (without reading the checks); etcd's "
        "lessor hands out random 64-bit lease IDs, and its revoke loop retries expired leases "
        "(etcd #9935, #10686 on revocations lost across leader changes)",
        EtcdParts(member=RevokingNeverForgets)),
    Bug("streams-kept-without-leader", "etcd", "WATCH-NO-LEADER-CANCELS",
        "A member cancels its watch streams when its leader changes but not when it loses it, so a "
        "member cut off from the cluster keeps its watchers, sending them progress notifications, "
        "while it applies nothing more",
        "etcd server/etcdserver/api/v3rpc/interceptor.go (monitorLeader cancels require-leader streams "
        "of a member without a leader); clientv3.WithRequireLeader",
        EtcdParts(member=StreamsKeptWithoutLeader)),
    Bug("resume-without-prev-kv", "etcd", "WATCH-RESUMABLE",
        "A resumed watch forgets the prev_kv option of the watch it continues",
        _ETCD_DOCS + ", \"API guarantees\", Watch: Resumable",
        EtcdParts(client=ResumeWithoutPrevKv)),
)
