"""The etcd bug catalog: each bug replaces one small method of a member, its store or a
client (named in the docstring), and names the invariant of spec/kv it breaks.

Read each override next to the reference method: the difference is the lesson. The catalog
entry's ``override`` is an ``EtcdParts`` value naming the class to use instead.
"""

from __future__ import annotations

from impl.catalog import Bug
from impl.etcd.client import EtcdClient, LogicalWatch
from impl.etcd.member import EtcdMember
from impl.etcd.messages import ClientRequest, WatchCreate
from impl.etcd.mvcc import Store
from impl.etcd.parts import EtcdParts
from impl.etcd.read_index import PendingRead
from impl.etcd.types import DeleteRangeRequest, Event
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


# ----- watch streams on a member ---------------------------------------------------------------

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
    Bug("resume-without-prev-kv", "etcd", "WATCH-RESUMABLE",
        "A resumed watch forgets the prev_kv option of the watch it continues",
        _ETCD_DOCS + ", \"API guarantees\", Watch: Resumable",
        EtcdParts(client=ResumeWithoutPrevKv)),
)
