"""The watch validators (spec/kv/watch.py, checks/watchcheck.py).

Each guarantee holds on streams from the reference store (Hypothesis op sequences with puts,
deletes, multi-key txns and compactions, watched over keys, ranges and prefixes from various
start revisions, with resumes and progress notifications), each reports a hand-mutated
stream, and all of them stay silent on streams recorded from a real etcd.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.watchcheck import (
    HistoryRecorder,
    WatchRecorder,
    to_event,
    validate,
    validate_resumed,
)
from impl.etcd import (
    ALL_KEYS,
    Compare,
    DeleteRangeRequest,
    EtcdError,
    PutRequest,
    Store,
    TxnRequest,
    prefix_end,
)
from spec.kv import watch as spec
from tests.etcd_server import (  # noqa: F401 (fixture)
    REQUEST_TIMEOUT_SECONDS,
    _b64,
    _event,
    _int,
    _next_result,
    _revision,
    etcd_client,
)

KEYS = (b"a", b"ab", b"b", b"c")
VALUES = (b"v0", b"v1", b"")
SPANS = ((b"a", b""), (b"a", prefix_end(b"a")), (b"a", b"b"), (b"b", ALL_KEYS),
         (ALL_KEYS, ALL_KEYS))

# ---- operations shared by the reference store and the real server ------------------------------

puts = st.builds(PutRequest, st.sampled_from(KEYS), st.sampled_from(VALUES))
deletes = st.sampled_from(SPANS).map(lambda span: DeleteRangeRequest(*span))
txns = st.builds(
    lambda key, version, success, failure: TxnRequest(
        (Compare(key, "VERSION", "EQUAL", version),), tuple(success), tuple(failure)),
    st.sampled_from(KEYS), st.integers(0, 2),
    st.lists(st.one_of(puts, deletes), min_size=1, max_size=3),
    st.lists(st.one_of(puts, deletes), max_size=3))
operations = st.one_of(
    puts.map(lambda r: ("write", r)), deletes.map(lambda r: ("write", r)),
    txns.map(lambda r: ("write", r)), txns.map(lambda r: ("write", r)),
    st.tuples(st.just("compact"), st.integers(0, 50)),
    st.tuples(st.just("watch"), st.integers(0, len(SPANS) - 1), st.integers(0, 12),
              st.booleans()),
    st.tuples(st.just("resume"), st.integers(0, 50)),
    st.just(("poll",)), st.just(("progress",)))


def _compaction_target(revision: int, compacted: int, pick: int) -> int | None:
    """A revision in (compacted, revision], or None when there is none."""
    low = max(compacted + 1, 1)
    return low + pick % (revision - low + 1) if revision >= low else None


def _write(target, request) -> None:
    try:
        target.execute(request)
    except EtcdError:
        pass  # an invalid txn (a key written twice): nothing committed


class Run:
    """The reference store, its history, its watches and the resumed pairs."""

    def __init__(self) -> None:
        self.store = Store()
        self.history = HistoryRecorder(self.store)
        self.watches: list[WatchRecorder] = []
        self.finished: list[WatchRecorder] = []
        self.pairs: list[tuple[WatchRecorder, WatchRecorder]] = []
        for span, prev_kv in ((4, True), (1, False)):  # two watches see every write
            self._watch(span, 0, prev_kv)

    def do(self, operation) -> None:
        kind = operation[0]
        if kind == "write":
            _write(self.store, operation[1])
        elif kind == "compact":
            self._compact(operation[1])
        elif kind == "watch":
            self._watch(*operation[1:])
        elif kind == "resume":
            self._resume(operation[1])
        for watch in self.watches:
            if kind == "progress":
                watch.progress()
            elif kind == "poll":
                watch.poll()

    def _compact(self, pick: int) -> None:
        store = self.store
        target = _compaction_target(store.revision, store.compact_revision, pick)
        if target is not None:
            self.history.compact(target)

    def _watch(self, span: int, start_pick: int, prev_kv: bool) -> None:
        start = 0 if start_pick == 0 else 1 + start_pick % (self.store.revision + 2)
        self.watches.append(WatchRecorder(self.store, *SPANS[span], start_revision=start,
                                          prev_kv=prev_kv))

    def _resume(self, pick: int) -> None:
        live = [w for w in self.watches if not w.watcher.canceled]
        if not live:
            return
        first = live[pick % len(live)]
        first.close()
        stream = first.stream()
        last = max([e.revision for e in stream.events()], default=stream.start_revision - 1)
        second = WatchRecorder(self.store, stream.key, stream.range_end,
                               start_revision=last + 1, prev_kv=stream.prev_kv)
        self.watches[self.watches.index(first)] = second
        self.finished.append(first)
        self.pairs.append((first, second))


@given(st.lists(operations, min_size=5, max_size=40))
def test_every_guarantee_holds_on_the_reference_store(ops) -> None:
    run = Run()
    for operation in ops:
        run.do(operation)
    history = run.history.history()
    for watch in run.watches + run.finished:
        stream = watch.stream()
        assert validate(history, stream) == [], stream
    for first, second in run.pairs:
        assert validate_resumed(history, first.stream(), second.stream()) == []


@given(st.lists(operations, min_size=5, max_size=40), st.integers(0, 10_000))
def test_mutations_of_generated_streams_are_reported(ops, pick) -> None:
    """Duplicating any event, dropping one below the last delivered revision, or moving a
    later revision's response in front of an earlier one is always caught."""
    run = Run()
    for operation in ops:
        run.do(operation)
    history, stream = run.history.history(), run.watches[0].stream()
    events = stream.events()
    if len(events) < 2:
        return
    event = events[pick % len(events)]
    doubled = replace(stream, responses=stream.responses + (spec.Response((event,)),))
    assert spec.check_unique(history, doubled)
    last = events[-1].revision
    droppable = [e for e in events if e.revision < last]
    if droppable:
        gone = droppable[pick % len(droppable)]
        dropped = tuple(replace(r, events=tuple(e for e in r.events if e is not gone))
                        for r in stream.responses)
        assert spec.check_reliable(history, replace(stream, responses=dropped))
    carrying = [r for r in stream.responses if r.events]
    if len({r.events[0].revision for r in carrying}) > 1:
        swapped = (carrying[-1],) + tuple(carrying[:-1])
        assert spec.check_ordered(history, replace(stream, responses=swapped))


# ---- hand-mutated streams ----------------------------------------------------------------------

def _scenario():
    """rev 2 create k1; 3 create k2; 4 txn (update k1, update k2, create k3); 5 delete k1;
    6 create k1 again; a prefix watch from 2 with prev_kv, polled after each write."""
    store = Store()
    history = HistoryRecorder(store)
    watch = WatchRecorder(store, b"k", prefix_end(b"k"), start_revision=2, prev_kv=True)
    writes = [PutRequest(b"k1", b"v1"), PutRequest(b"k2", b"v1"),
              TxnRequest(success=(PutRequest(b"k1", b"v2"), PutRequest(b"k2", b"v2"),
                                  PutRequest(b"k3", b"v1"))),
              DeleteRangeRequest(b"k1"), PutRequest(b"k1", b"v3")]
    for request in writes:
        store.execute(request)
        watch.poll()
    watch.progress()
    return store, history, watch


def _mutated(stream: spec.WatchStream, responses) -> spec.WatchStream:
    return replace(stream, responses=tuple(responses))


def _with_event(response: spec.Response, index: int, event: spec.Event) -> spec.Response:
    events = list(response.events)
    events[index] = event
    return replace(response, events=tuple(events))


def _fires(name: str, history: spec.History, stream: spec.WatchStream) -> bool:
    check = dict(spec.STREAM_GUARANTEES)[name]
    return bool(check(history, stream))


def test_the_unmutated_scenario_is_clean() -> None:
    _, recorder, watch = _scenario()
    stream = watch.stream()
    assert [len(r.events) for r in stream.responses] == [1, 1, 3, 1, 1, 0]
    assert validate(recorder.history(), stream) == []


def test_each_mutation_is_reported_by_its_guarantee() -> None:
    _, recorder, watch = _scenario()
    history, stream = recorder.history(), watch.stream()
    r = list(stream.responses)
    txn = r[2]
    update_k1, update_k2, _ = txn.events
    recreate = r[4].events[0]
    mutations = {
        "ordered": [r[0], r[2], r[1]] + r[3:],
        "unique": [r[0], replace(r[1], events=r[1].events * 2)] + r[2:],
        "reliable": r[:2] + [replace(txn, events=(update_k1, txn.events[2]))] + r[3:],
        "atomic": r[:2] + [replace(txn, events=txn.events[:1]),
                           replace(txn, events=txn.events[1:])] + r[3:],
        "bookmarkable": r[:4] + [spec.Response(header_revision=6, progress=True)] + r[4:],
        "is-create": r[:4] + [_with_event(r[4], 0, replace(
            recreate, kv=replace(recreate.kv, create_revision=2)))] + r[5:],
        "prev-kv": r[:2] + [_with_event(txn, 1, replace(
            update_k2, prev_kv=replace(update_k2.prev_kv, value=b"wrong")))] + r[3:],
        "filter": r[:1] + [_with_event(r[1], 0, replace(
            r[1].events[0], kv=replace(r[1].events[0].kv, value=b"other")))] + r[2:],
    }
    for name, responses in mutations.items():
        assert _fires(name, history, _mutated(stream, responses)), name
    creation_with_prev = _with_event(r[4], 0, replace(recreate, prev_kv=update_k1.kv))
    assert _fires("prev-kv", history, _mutated(stream, r[:4] + [creation_with_prev] + r[5:]))


def test_a_watch_silently_started_after_compaction_is_reported() -> None:
    store, recorder, _ = _scenario()
    recorder.compact(4)
    store.put(b"k9", b"late")  # the watches below are created after the compaction
    cancelled = WatchRecorder(store, b"k", prefix_end(b"k"), start_revision=2)
    later = WatchRecorder(store, b"k", prefix_end(b"k"), start_revision=4)
    history = recorder.history()
    assert cancelled.stream().responses[0].compact_revision == 4
    assert validate(history, cancelled.stream()) == []
    assert validate(history, later.stream()) == []
    silent = replace(later.stream(), start_revision=2)
    assert _fires("compacted-start", history, silent)
    wrong_cancel = replace(cancelled.stream(), start_revision=5)
    assert _fires("compacted-start", history, wrong_cancel)


def test_a_resume_that_repeats_or_skips_is_reported() -> None:
    store, recorder, watch = _scenario()
    history, whole = recorder.history(), watch.stream()
    first = replace(whole, responses=whole.responses[:2])  # up to revision 3

    def resumed(start: int) -> spec.WatchStream:
        events = [e for e in whole.events() if e.revision >= start]
        return replace(whole, start_revision=start, responses=(spec.Response(tuple(events)),))

    assert validate_resumed(history, first, resumed(4)) == []
    assert any("unique" in p for p in spec.check_resumable(history, first, resumed(3)))
    assert any("reliable" in p for p in spec.check_resumable(history, first, resumed(5)))


def test_a_resume_on_a_lagging_member_keeps_the_window_compaction_left():
    """A first stream created after compaction at 3 skips the deletion compaction removed; the
    stream the watch resumes on next is created on a member still replaying its log (revision
    2): the deletion was already gone for the watch, so it is not owed (seen on a restarted
    member by the etcd search, seed 6)."""
    put = spec.Event("PUT", spec.KV(b"k/a", b"1", 2, 2, 1))
    history = spec.complete_history(
        [put, spec.Event("DELETE", spec.KV(b"k/a", mod_revision=3)), spec.Event("DELETE", spec.KV(b"k/c", mod_revision=4))],
        initial=[spec.KV(b"k/c", b"3", 1, 1, 1)], compactions=[spec.Compaction(3, 3)])
    first = spec.WatchStream(b"k/", b"k0", 3, False, 4, (spec.Response(
        (spec.Event("DELETE", spec.KV(b"k/c", mod_revision=4)),), 4), spec.Response(canceled=True)))
    lagging = spec.WatchStream(b"k/", b"k0", 5, False, 2, (spec.Response(header_revision=2),))
    assert spec.check_reliable(history, spec.merge_streams((first, lagging))) == []
    assert spec.merge_streams((first, lagging)).created_revision == 4



def test_a_compaction_after_the_watch_began_never_excuses_a_gap_in_its_resumed_streams():
    """The first stream delivers revision 2 and breaks; revisions 3 and 4 are written and 4 is
    compacted; a client that resumes from the compaction (etcd #8668's mistake, where clientv3
    must end the watch with ErrCompacted) gets revision 4 and never 3. Judged as one watch, the
    window is the one its first stream had: revision 3 is owed."""
    events = [spec.Event("PUT", spec.KV(b"k/a", value, revision, revision, revision - 1))
              for value, revision in ((b"1", 2), (b"2", 3), (b"3", 4))]
    history = spec.complete_history(events, compactions=[spec.Compaction(4, 4)])
    first = spec.WatchStream(b"k/a", b"", 2, False, 1, (spec.Response(events[:1], 2),))
    resumed = spec.WatchStream(b"k/a", b"", 4, False, 4, (spec.Response(events[2:], 4),))
    problems = spec.check_reliable(history, spec.merge_streams((first, resumed)))
    assert problems == ["reliable: event (3, b'k/a', 'PUT') was never delivered"]

def test_an_event_that_drops_the_keys_lease_is_not_the_committed_one():
    """A put under lease 7 delivered with lease 0: an informer that reads the lease from the
    event (to know when the key goes) would wait for nothing. Filter compares every field."""
    committed = spec.Event("PUT", spec.KV(b"k/a", b"1", 2, 2, 1, lease=7))
    history = spec.complete_history([committed])
    delivered = spec.Event("PUT", spec.KV(b"k/a", b"1", 2, 2, 1))
    stream = spec.WatchStream(b"k/a", b"", 1, False, 1, (spec.Response((delivered,), 2),))
    assert [p for p in spec.check_filter(history, stream) if "not the committed one" in p]
    faithful = spec.WatchStream(b"k/a", b"", 1, False, 1, (spec.Response((committed,), 2),))
    assert spec.check_filter(history, faithful) == []


def test_a_response_whose_header_is_older_than_its_events_is_out_of_order():
    """The header says the store's revision when the response left: events from after it
    would come from the future (a member that stamps responses before applying)."""
    put = spec.Event("PUT", spec.KV(b"k/a", b"1", 2, 2, 1))
    history = spec.complete_history([put])
    stamped_early = spec.WatchStream(b"k/a", b"", 1, False, 1, (spec.Response((put,), 1),))
    assert spec.check_ordered(history, stamped_early) == [
        "ordered: response 0 has header revision 1, below its event at revision 2"]
    assert spec.check_ordered(history, spec.WatchStream(b"k/a", b"", 1, False, 1, (spec.Response((put,), 2),))) == []


def test_a_history_grown_commit_by_commit_is_the_history_built_at_once():
    """What a search observing commits one at a time builds equals complete_history of them
    all, prev_kv included; an event before the last revision is refused."""
    events = [spec.Event("PUT", spec.KV(b"k/a", b"1", 2, 2, 1)), spec.Event("PUT", spec.KV(b"k/b", b"2", 3, 3, 1)),
              spec.Event("PUT", spec.KV(b"k/a", b"3", 2, 4, 2)), spec.Event("DELETE", spec.KV(b"k/a", mod_revision=5)),
              spec.Event("DELETE", spec.KV(b"k/b", mod_revision=5))]
    initial = [spec.KV(b"k/b", b"0", 1, 1, 1)]
    builder = spec.HistoryBuilder(initial)
    for first, last in ((0, 1), (1, 3), (3, 5)):
        builder.extend(events[first:last])
    compactions = [spec.Compaction(3, 4)]
    assert builder.history(compactions) == spec.complete_history(events, initial, compactions)
    with pytest.raises(ValueError):
        builder.extend([spec.Event("PUT", spec.KV(b"k/c", b"9", 4, 4, 1))])


# ---- real etcd ---------------------------------------------------------------------------------

class RawWatch:
    """One watch stream on the JSON gateway, kept open, read response by response. With
    `progress` the request body carries, after the create request, a progress request.
    etcd 3.5.1 answers that at once with the store's revision, even while the watcher is
    still replaying history (etcd issue #15220, fixed in 3.5.8): only a watch that starts
    from now on (start 0) may ask for it truthfully."""

    def __init__(self, client, key: bytes, range_end: bytes = b"", start: int = 0,
                 prev_kv: bool = False, progress: bool | None = None) -> None:
        create = {"key": _b64(key), "range_end": _b64(range_end), "start_revision": start,
                  "prev_kv": prev_kv}
        body = json.dumps({"create_request": create})
        if start == 0 if progress is None else progress:
            body += "\n" + json.dumps({"progress_request": {}})
        self.connection = http.client.HTTPConnection(client.base_url[len("http://"):],
                                                     timeout=REQUEST_TIMEOUT_SECONDS)
        self.connection.request("POST", "/v3/watch", body, {"Content-Type": "application/json"})
        self.response = self.connection.getresponse()
        created = _next_result(self.response)
        assert created.get("created"), created
        self.created_revision = _revision(created)
        self.params = (key, range_end, start or self.created_revision + 1, prev_kv)
        self.responses: list[spec.Response] = []

    def read(self, quiet_seconds: float = 0.4) -> None:
        """Everything the server sends until it stays quiet for quiet_seconds."""
        self.connection.sock.settimeout(quiet_seconds)
        while True:
            try:
                result = _next_result(self.response)
            except (TimeoutError, socket.timeout):
                return
            self.responses.append(_response(result))

    def close(self) -> spec.WatchStream:
        self.connection.close()
        return spec.WatchStream(*self.params, self.created_revision, tuple(self.responses))


def _response(result: dict) -> spec.Response:
    events = tuple(to_event(_event(body)) for body in result.get("events", []))
    canceled = bool(result.get("canceled"))
    return spec.Response(events, _revision(result), progress=not events and not canceled,
                         canceled=canceled, compact_revision=_int(result, "compact_revision"))


def _real_operations(rng: random.Random, count: int) -> list:
    def write():
        key, value = rng.choice(KEYS), rng.choice(VALUES)
        return rng.choice([PutRequest(key, value), PutRequest(key, value),
                           DeleteRangeRequest(*rng.choice(SPANS[:4]))])
    ops = []
    for _ in range(count):
        if rng.random() < 0.3:
            branch = tuple(write() for _ in range(rng.randint(2, 3)))
            ops.append(TxnRequest((Compare(rng.choice(KEYS), "VERSION", "GREATER", 0),),
                                  branch, branch[:1]))
        else:
            ops.append(write())
    return ops


def test_every_guarantee_holds_on_real_etcd(etcd_client) -> None:
    client, store = etcd_client, Store()
    reference = HistoryRecorder(store)
    everything = RawWatch(client, ALL_KEYS, ALL_KEYS)
    live = [RawWatch(client, *span, prev_kv=True) for span in SPANS]
    compactions: list[spec.Compaction] = []
    ops = _real_operations(random.Random(4), 40)
    for index, request in enumerate(ops):
        _write(client, request)
        _write(store, request)
        if index == 25:
            target = store.revision - 3
            at = client.compact(target).revision
            reference.compact(target)
            compactions.append(spec.Compaction(target, at))
        if index == 15:  # disconnect the prefix watch and resume it from last seen + 1
            live[1].read(0.3)
            first = live[1].close()
            last = max([e.revision for e in first.events()], default=first.start_revision - 1)
            live[1] = RawWatch(client, first.key, first.range_end, last + 1, True)
    compact = compactions[0].revision
    late = [RawWatch(client, *SPANS[span], start, prev_kv)
            for span, start, prev_kv in ((4, 2, True), (4, compact, True),
                                         (1, compact + 1, True), (3, compact - 1, False),
                                         (0, 0, True))]
    streams = []
    for watch in [everything] + live + late:
        watch.read()
        streams.append(watch.close())
    history = spec.complete_history(streams[0].events(), compactions=compactions)
    assert history.revisions == reference.history().revisions  # etcd and the store agree
    for stream in streams:
        assert validate(history, stream) == [], stream
    assert streams[len(live) + 1].responses[-1].compact_revision == compact  # from 2: cancelled
    assert validate_resumed(history, first, streams[2]) == []
    assert any(r.progress for s in streams for r in s.responses)  # a bookmark was judged too


def test_bookmarkable_catches_etcd_3_5_1_answering_progress_during_replay(etcd_client) -> None:
    """etcd issue #15220 on the real server: a progress request on a watch still replaying
    history is answered at the current revision before the replayed events arrive."""
    first = etcd_client.execute(PutRequest(b"z", b"1")).revision
    etcd_client.execute(PutRequest(b"z", b"2"))
    watch = RawWatch(etcd_client, b"z", start=first, progress=True)
    watch.read()
    stream = watch.close()
    recorder = RawWatch(etcd_client, b"z", start=first)
    recorder.read()
    history = spec.complete_history(recorder.close().events())
    assert stream.responses[0].progress and stream.responses[0].header_revision == first + 1
    assert len(stream.events()) == 2
    assert spec.check_bookmarkable(history, stream)
