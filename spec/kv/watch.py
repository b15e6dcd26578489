"""etcd's watch guarantees as plain predicates over plain data.

A watch is judged against the store's *committed history*: the revisions the store committed,
each with its events in the order the txn wrote them. The *observed stream* is what one watch
delivered: its responses in arrival order, each carrying events, or a progress notification
at a header revision, or a cancellation (with ``compact_revision`` when the start revision
had been compacted).

Sources: etcd v3.5 documentation, "API guarantees" (Watch APIs: ordered, unique, reliable,
atomic, resumable, bookmarkable) and "API" (Watch: start_revision, prev_kv, progress
notifications, compact_revision); etcd's robustness tests, ``tests/robustness/validate/
watch.go`` (validateFilter, validateOrdered, validateUnique, validateAtomic,
validateBookmarkable, validateReliable, validateEventsMatch/isCreate, validatePrevKV).

*History window.* Compaction at revision c erases history: a watch may start at c but not
below, and from c it sees, of revision c's events, only each key's last write when that is a
PUT (the deletion tombstones are gone). So "every event must arrive" is asked only inside the
window the watch could still see: the compactions that may have run before the watch was
created (at a store revision <= its created revision) set its floor.

Every ``check_*`` returns a list of violation messages, empty when the guarantee holds. The
module imports nothing from ``impl`` or ``checks``: real etcd's streams are judged alike.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

__all__ = [
    "KV", "Event", "Revision", "Compaction", "History", "Response", "WatchStream",
    "ALL_KEYS", "in_range", "complete_history", "HistoryBuilder", "expected_events",
    "check_filter", "check_ordered", "check_unique", "check_reliable", "check_atomic",
    "check_bookmarkable", "check_is_create", "check_prev_kv", "check_compacted_start",
    "check_resumable", "check_resume_point", "check_same_watch", "check_whole_revisions", "merge_streams", "STREAM_GUARANTEES",
]

ALL_KEYS = b"\0"  # range_end b"\0": every key >= key


# ---- the plain data ----------------------------------------------------------------------------

@dataclass(frozen=True)
class KV:
    """A key's state: value, create_revision (last creation), mod_revision (last change),
    version (1 on creation, +1 per put) and lease (the lease it is attached to, 0 for none).
    A DELETE event's kv carries only key and mod_revision."""

    key: bytes
    value: bytes = b""
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    lease: int = 0


@dataclass(frozen=True)
class Event:
    """One change. In a committed history ``prev_kv`` is the key's state at revision - 1
    (None when absent then); in a stream it is whatever the watch delivered."""

    type: str  # "PUT" or "DELETE"
    kv: KV
    prev_kv: KV | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def key(self) -> bytes:
        return self.kv.key

    @property
    def ident(self) -> tuple[int, bytes, str]:
        """What makes an event *the same event*: revision, key and type."""
        return (self.kv.mod_revision, self.kv.key, self.type)

    @property
    def is_create(self) -> bool:
        """clientv3's Event.IsCreate: a PUT whose create_revision is its mod_revision."""
        return self.type == "PUT" and self.kv.create_revision == self.kv.mod_revision


@dataclass(frozen=True)
class Revision:
    revision: int
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Compaction:
    """Compact(revision), run while the store was at ``at_revision``."""

    revision: int
    at_revision: int


@dataclass(frozen=True)
class History:
    revisions: tuple[Revision, ...]
    compactions: tuple[Compaction, ...] = ()


@dataclass(frozen=True)
class Response:
    """One watch response: events; or ``progress`` at ``header_revision`` (no events); or
    ``canceled`` (with ``compact_revision`` > 0 when the start had been compacted)."""

    events: tuple[Event, ...] = ()
    header_revision: int = 0
    progress: bool = False
    canceled: bool = False
    compact_revision: int = 0


@dataclass(frozen=True)
class WatchStream:
    """One watch: key or [key, range_end), from ``start_revision`` (inclusive, already
    resolved: a request for 0 means created_revision + 1), with or without prev_kv;
    ``created_revision`` is the header revision of its "created" response."""

    key: bytes
    range_end: bytes
    start_revision: int
    prev_kv: bool
    created_revision: int
    responses: tuple[Response, ...] = field(default=())

    def events(self) -> list[Event]:
        return [event for response in self.responses for event in response.events]

    def matches(self, event: Event) -> bool:
        return in_range(event.key, self.key, self.range_end)


def in_range(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    """etcd's range rule: ``key`` alone, every key >= key (b"\\0"), or [key, range_end)."""
    if not range_end:
        return candidate == key
    if range_end == ALL_KEYS:
        return candidate >= key
    return key <= candidate < range_end


def complete_history(events: Iterable[Event], initial: Iterable[KV] = (),
                     compactions: Iterable[Compaction] = ()) -> History:
    """Group events (in commit order, prev_kv ignored) by revision and fill each one's
    prev_kv with the key's state at revision - 1, tracked from ``initial`` (the live keys
    before the first event)."""
    state = {kv.key: kv for kv in initial}
    grouped: dict[int, list[Event]] = {}
    before: dict[int, dict[bytes, KV | None]] = {}
    for event in events:
        seen = before.setdefault(event.revision, {})
        if event.key not in seen:
            seen[event.key] = state.get(event.key)
        grouped.setdefault(event.revision, []).append(replace(event, prev_kv=seen[event.key]))
        if event.type == "PUT":
            state[event.key] = event.kv
        else:
            state.pop(event.key, None)
    revisions = tuple(Revision(r, tuple(grouped[r])) for r in sorted(grouped))
    return History(revisions, tuple(compactions))


class HistoryBuilder:
    """``complete_history`` grown one commit at a time: events of later revisions are appended
    (with prev_kv filled the same way) instead of the whole history being rebuilt, which a
    search that judges after every commit would pay for quadratically."""

    def __init__(self, initial: Iterable[KV] = ()) -> None:
        self._state = {kv.key: kv for kv in initial}
        self._revisions: list[Revision] = []
        self._before: dict[bytes, KV | None] = {}  # the keys' states before the last revision

    @property
    def last_revision(self) -> int:
        return self._revisions[-1].revision if self._revisions else 0

    def extend(self, events: Iterable[Event]) -> None:
        """Append events in commit order, none before the last revision already built."""
        for event in events:
            if event.revision < self.last_revision:
                raise ValueError(f"event at revision {event.revision} after revision {self.last_revision}")
            if event.revision > self.last_revision:
                self._revisions.append(Revision(event.revision, ()))
                self._before = {}
            if event.key not in self._before:
                self._before[event.key] = self._state.get(event.key)
            last = self._revisions[-1]
            self._revisions[-1] = Revision(last.revision, last.events + (replace(event, prev_kv=self._before[event.key]),))
            if event.type == "PUT":
                self._state[event.key] = event.kv
            else:
                self._state.pop(event.key, None)

    def history(self, compactions: Iterable[Compaction] = ()) -> History:
        return History(tuple(self._revisions), tuple(compactions))


# ---- what a watch must deliver -----------------------------------------------------------------

def _floor(history: History, stream: WatchStream) -> int:
    """The highest compaction that may have run before the watch was created (0 if none)."""
    return max((c.revision for c in history.compactions
                if c.at_revision <= stream.created_revision), default=0)


def _retained(revision: Revision, event: Event) -> bool:
    """Whether compaction at this revision keeps the event: the key's last write, a PUT."""
    last = [e for e in revision.events if e.key == event.key][-1]
    return last is event and event.type == "PUT"


def expected_events(history: History, stream: WatchStream, upto: int) -> list[Event]:
    """The committed events the watch must deliver up to revision ``upto``: matching its
    range, at or after its start, inside its history window."""
    floor = _floor(history, stream)
    expected = []
    for revision in history.revisions:
        if not stream.start_revision <= revision.revision <= upto or revision.revision < floor:
            continue
        for event in revision.events:
            kept = revision.revision > floor or _retained(revision, event)
            if stream.matches(event) and kept:
                expected.append(event)
    return expected


def _committed(history: History) -> dict[tuple, Event]:
    return {event.ident: event for revision in history.revisions for event in revision.events}


def _last_revision(stream: WatchStream) -> int:
    return max((event.revision for event in stream.events()), default=0)


# ---- the guarantees ----------------------------------------------------------------------------

def check_filter(history: History, stream: WatchStream) -> list[str]:
    """Filter: every delivered event was committed, exactly as committed (type, key, value,
    create_revision, mod_revision, version, lease), matches the watch's key or range and is at or
    after its start revision. Source: robustness tests, validateFilter/validateEventsMatch."""
    committed, problems = _committed(history), []
    for event in stream.events():
        truth = committed.get(event.ident)
        if truth is None or truth.kv != event.kv:
            problems.append(f"filter: event {event.ident} is not the committed one ({truth})")
        if not stream.matches(event) or event.revision < stream.start_revision:
            problems.append(f"filter: event {event.ident} is outside the watch")
    return problems


def check_ordered(history: History, stream: WatchStream) -> list[str]:
    """Ordered: events come in revision order, within and across responses; no event
    precedes one already delivered. A response's header revision is the store's revision
    when it was sent, so it is at least that of every event it carries (it may go back
    across a resume: the next member may lag). Source: "API guarantees", Watch: Ordered;
    etcd api/etcdserverpb ResponseHeader.revision."""
    problems, highest = [], 0
    for index, response in enumerate(stream.responses):
        for event in response.events:
            if event.revision < highest:
                problems.append(f"ordered: response {index} delivers revision {event.revision}"
                                f" after revision {highest}")
            highest = max(highest, event.revision)
        newest = max((event.revision for event in response.events), default=0)
        if response.header_revision and response.header_revision < newest:
            problems.append(f"ordered: response {index} has header revision {response.header_revision}, below "
                            f"its event at revision {newest}")
    return problems


def check_unique(history: History, stream: WatchStream) -> list[str]:
    """Unique: no event is delivered twice (the same revision, key and type more often than
    it was committed). Source: "API guarantees", Watch: Unique; etcd issue #17247."""
    committed = collections.Counter(e.ident for r in history.revisions for e in r.events)
    delivered = collections.Counter(event.ident for event in stream.events())
    return [f"unique: event {ident} delivered {count} times" for ident, count in
            sorted(delivered.items()) if count > max(committed[ident], 1)]


def check_reliable(history: History, stream: WatchStream) -> list[str]:
    """Reliable: no gap. Every committed event that matches the watch, with a revision from
    its start up to before the last revision it delivered, is delivered (inside the history
    window). The last revision's other events are Atomic's concern, not a gap: judged while
    the stream is still running, they may be in the very next response, and that response
    would then break Atomic, not Reliable. Source: "API guarantees", Watch: Reliable;
    robustness validateReliable."""
    delivered = {event.ident for event in stream.events()}
    missing = [e for e in expected_events(history, stream, _last_revision(stream) - 1)
               if e.ident not in delivered]
    return [f"reliable: event {event.ident} was never delivered" for event in missing]


def check_atomic(history: History, stream: WatchStream) -> list[str]:
    """Atomic: all events of one revision arrive in the same response; a txn's changes are
    never split. Source: "API guarantees", Watch: Atomic; etcd bug split-txn-events."""
    carriers: dict[int, set[int]] = collections.defaultdict(set)
    for index, response in enumerate(stream.responses):
        for event in response.events:
            carriers[event.revision].add(index)
    problems = [f"atomic: revision {revision} split over responses {sorted(indices)}"
                for revision, indices in sorted(carriers.items()) if len(indices) > 1]
    return problems + check_whole_revisions(history, stream)


def check_whole_revisions(history: History, stream: WatchStream) -> list[str]:
    """The part of Atomic that survives a broken stream: a revision the watch delivered some
    events of, and then moved past, was delivered whole. (When a split response is followed
    by a break, the client resumes after that revision and its other events never come.)"""
    delivered = {event.ident for event in stream.events()}
    seen = {event.revision for event in stream.events()}
    expected: dict[int, list[Event]] = collections.defaultdict(list)
    for event in expected_events(history, stream, _last_revision(stream) - 1):
        expected[event.revision].append(event)
    problems = []
    for revision in sorted(seen & set(expected)):
        missing = [e.ident for e in expected[revision] if e.ident not in delivered]
        if missing:
            problems.append(f"atomic: revision {revision} arrived without {missing}")
    return problems


def check_bookmarkable(history: History, stream: WatchStream) -> list[str]:
    """Bookmarkable: a progress notification at revision r promises that every matching
    event at revision <= r was already delivered, so none may follow it. Source: "API
    guarantees", Watch: Bookmarkable; etcd issue #15220 (progress notification ahead of
    events)."""
    problems, delivered = [], set()
    for index, response in enumerate(stream.responses):
        if response.progress:
            owed = [e.ident for e in expected_events(history, stream, response.header_revision)
                    if e.ident not in delivered]
            problems += [f"bookmarkable: progress at {response.header_revision} (response "
                         f"{index}) before event {ident}" for ident in owed]
        delivered.update(event.ident for event in response.events)
    return problems


def check_is_create(history: History, stream: WatchStream) -> list[str]:
    """is-create: a delivered PUT reads as a creation (create_revision == mod_revision)
    exactly when it committed as one, i.e. the key was absent just before the write
    (version 1). Source: robustness tests, isCreate in validateEventsMatch."""
    committed, problems = _committed(history), []
    for event in stream.events():
        truth = committed.get(event.ident)
        if event.type == "PUT" and truth and event.is_create != (truth.kv.version == 1):
            problems.append(f"is-create: event {event.ident} says is_create={event.is_create}")
    return problems


def _prev_kv_problem(stream: WatchStream, event: Event, truth: Event,
                     compacted: int) -> str | None:
    if not stream.prev_kv or truth.is_create:
        wanted = None
    else:
        wanted = truth.prev_kv
    if event.prev_kv == wanted:
        return None
    if event.prev_kv is None and event.revision - 1 < compacted:
        return None  # revision - 1 is compacted: etcd cannot read it, and sends none
    return f"prev-kv: event {event.ident} has prev_kv {event.prev_kv}, expected {wanted}"


def check_prev_kv(history: History, stream: WatchStream) -> list[str]:
    """prev-kv: with prev_kv requested, each event carries the key's state at revision - 1,
    none for a creation (or when revision - 1 is compacted); without it, none at all.
    Source: "API", Watch (prev_kv); robustness validatePrevKV."""
    committed = _committed(history)
    compacted = max((c.revision for c in history.compactions), default=0)
    problems = []
    for event in stream.events():
        truth = committed.get(event.ident)
        problem = truth and _prev_kv_problem(stream, event, truth, compacted)
        if problem:
            problems.append(problem)
    return problems


def check_compacted_start(history: History, stream: WatchStream) -> list[str]:
    """compacted-start: a watch whose start revision was compacted before it was created is
    cancelled with compact_revision set, delivering nothing (no event, no progress
    notification); it never silently starts later.
    A cancellation names a real compaction above the start. Source: "API", Watch
    (compact_revision); etcd bug watch-starts-after-compaction."""
    problems = []
    known = {c.revision for c in history.compactions}
    before = max((c.revision for c in history.compactions
                  if c.at_revision < stream.created_revision), default=0)
    cancel = next((r for r in stream.responses if r.canceled and r.compact_revision), None)
    if cancel and (cancel.compact_revision not in known
                   or stream.start_revision >= cancel.compact_revision):
        problems.append(f"compacted-start: cancelled with compact_revision "
                        f"{cancel.compact_revision} for start {stream.start_revision}")
    spoke = stream.events() or any(r.progress for r in stream.responses)
    if stream.start_revision < before and spoke:  # no word yet: the cancel may be on its way
        problems.append(f"compacted-start: start {stream.start_revision} was compacted (at "
                        f"{before}) but the watch was not cancelled before any event")
    return problems


def check_resumable(history: History, first: WatchStream, second: WatchStream) -> list[str]:
    """Resumable: a watch reopened at last-seen-revision + 1 continues the stream exactly:
    the two streams concatenated are ordered, unique and reliable like one uninterrupted
    watch. Source: "API guarantees", Watch: Resumable; etcd bug duplicate-event-on-resume."""
    problems = check_resume_point(first, second)
    merged = merge_streams((first, second))
    for check in (check_ordered, check_unique, check_reliable):
        problems += [f"resumable: {problem}" for problem in check(history, merged)]
    return problems


def check_resume_point(first: WatchStream, second: WatchStream) -> list[str]:
    """The part of Resumable that is about the request: the reopened watch is over the same
    range with the same options, and starts right after the last event the first delivered
    (at the first's start if it delivered none)."""
    resume_at = max(_last_revision(first) + 1, first.start_revision)
    problems = check_same_watch(first, second)
    if second.start_revision != resume_at:
        problems.append(f"resumable: resumed at {second.start_revision}, not {resume_at}")
    return problems


def check_same_watch(first: WatchStream, second: WatchStream) -> list[str]:
    """A reopened watch is over the same key or range, with the same prev_kv option."""
    if (first.key, first.range_end, first.prev_kv) == (second.key, second.range_end, second.prev_kv):
        return []
    return [f"resumable: reopened as key={second.key!r} range_end={second.range_end!r} "
            f"prev_kv={second.prev_kv}, was key={first.key!r} range_end={first.range_end!r} "
            f"prev_kv={first.prev_kv}"]


def merge_streams(streams: Iterable[WatchStream]) -> WatchStream:
    """Consecutive streams of one resumed watch as the single stream the client sees: the
    first's range, start and creation, every response in order. The history window is what
    compaction had left when the first of them was created: a client resumes after the last
    revision it received, and if compaction took that away meanwhile the member cancels the
    watch (ErrCompacted) and it ends, so no later compaction excuses a gap in a resumed watch.
    (Not the last stream's creation either: a stream resumed on a member that lags, such as one
    replaying its log after a restart, reports an older revision than an earlier stream did.)"""
    streams = list(streams)
    responses = tuple(response for stream in streams for response in stream.responses)
    return replace(streams[0], responses=responses)


STREAM_GUARANTEES: tuple[tuple[str, Callable[[History, WatchStream], list[str]]], ...] = (
    ("filter", check_filter),
    ("ordered", check_ordered),
    ("unique", check_unique),
    ("reliable", check_reliable),
    ("atomic", check_atomic),
    ("bookmarkable", check_bookmarkable),
    ("is-create", check_is_create),
    ("prev-kv", check_prev_kv),
    ("compacted-start", check_compacted_start),
)
"""Every guarantee judged on one stream, by name (resumable takes two streams)."""
