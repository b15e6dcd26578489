"""The linearizability checker and the watch validators, unchanged, on a REAL etcd under load.

One real etcd 3.5 (tests/etcd_server.py) serves six client threads at once: linearizable
gets, puts of unique values, deletes, compare-and-sets (a txn comparing the key's value) and
two-key txns over five keys. Each thread records a Jepsen-style history (invoke, then ok /
fail / info), every event numbered and appended under one lock, so the index order is real
time. ``checks.lincheck`` must find it linearizable, and must find it NOT linearizable once
one read is made stale by hand (the negative control: the check can fail).

Meanwhile watches run on the same server over websockets (the JSON gateway's /v3/watch
behind etcd's websocket proxy: the only way to send a progress request or a cancel request
mid-stream; a plain HTTP POST body is read whole before anything is answered): a prefix with
prev_kv, a range that is cancelled midway and resumed from last-seen + 1, and one key from a
past revision opened mid-run. The committed history is read back afterwards with a plain HTTP
watch over every key from revision 1, checked against what the clients were told and against
the final keyspace, and every guarantee of spec/kv/watch.py must hold on every stream.

Progress notifications are requested mid-run while the writers are paused, and at the end,
each time after the streams went quiet. etcd 3.5.1 answers a progress request at once from
the stream's control channel, racing events still queued for the same stream (etcd issue
#15220, fixed in 3.5.8; tests/test_watch_validators.py shows the replay case), so a request
while writes are in flight may be answered ahead of events: here it is asked only when it
can be answered truthfully.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import pytest

from checks.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, Operation, check_history
from checks.watchcheck import to_event, to_kv
from impl.etcd import (
    ALL_KEYS,
    Compare,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
    error_from_message,
    prefix_end,
)
from spec.kv import watch as spec
from spec.kv.model import model_by_name
from tests.etcd_server import (
    EtcdClient,
    EtcdProtocolError,
    _b64,
    _event,
    _int,
    _revision,
    running_etcd,
)

THREADS = 6
OPERATIONS_PER_THREAD = 60
PAUSE_AT = 30                  # every writer stops before its operation 30 for a progress check
CANCEL_AFTER_COMPLETIONS = 90  # the range watch is cancelled and resumed after this many ops
KEYS = tuple(f"k/{n}" for n in range(5))
PREFIX = b"k/"
RANGE = (b"k/1", b"k/3")       # k/1 and k/2
HTTP_TIMEOUT_SECONDS = 2.0     # a request taking longer is recorded as :info
WAIT_SECONDS = 10.0            # bound on every wait for the server
QUIET_SECONDS = 0.3            # longer than etcd's 100 ms sync loop for unsynced watchers
SEED = 20261125


# ---- a client with a short timeout and one keep-alive connection per thread ------------------

class ShortTimeoutClient(EtcdClient):
    """EtcdClient's requests and answers, over a persistent connection per thread with a short
    timeout; any failure closes the connection (the next request opens a new one)."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        super().__init__(base_url)
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.base_url[len("http://"):],
                                                    timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _post(self, path: str, body: dict) -> dict:
        connection = self._connection()
        try:
            connection.request("POST", path, json.dumps(body),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            status, answer = response.status, json.loads(response.read() or b"{}")
        except BaseException:
            connection.close()
            self._local.connection = None
            raise
        if status == 200:
            return answer
        error = error_from_message(answer.get("message") or answer.get("error") or "")
        raise error if error is not None else EtcdProtocolError(f"{path}: {status} {answer}")


# ---- a watch over a websocket ------------------------------------------------------------------

def _response(result: dict) -> spec.Response:
    events = tuple(to_event(_event(body)) for body in result.get("events", []))
    canceled = bool(result.get("canceled"))
    return spec.Response(events, _revision(result), progress=not events and not canceled,
                         canceled=canceled, compact_revision=_int(result, "compact_revision"))


class WebSocketWatch:
    """One watch stream on /v3/watch over a websocket (RFC 6455, the client side by hand:
    masked text frames out, possibly fragmented text frames in). A reader thread collects
    every response after the "created" one; the caller may send progress and cancel requests
    on the same stream at any time."""

    def __init__(self, base_url: str, key: bytes, range_end: bytes = b"", *,
                 start_revision: int = 0, prev_kv: bool = False) -> None:
        host, port = base_url[len("http://"):].split(":")
        self.socket = socket.create_connection((host, int(port)), timeout=WAIT_SECONDS)
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET /v3/watch HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.reader = self.socket.makefile("rb")
        status = self.reader.readline()
        if b" 101 " not in status:
            raise EtcdProtocolError(f"websocket upgrade refused: {status!r}")
        while self.reader.readline() not in (b"\r\n", b""):
            pass
        self._send({"create_request": {"key": _b64(key), "range_end": _b64(range_end),
                                       "start_revision": start_revision, "prev_kv": prev_kv}})
        created = self._receive()
        if not created or not created.get("created") or created.get("canceled"):
            raise EtcdProtocolError(f"watch: expected a created response, got {created}")
        self.created_revision = _revision(created)
        self.watch_id = _int(created, "watch_id")
        self.params = (key, range_end, start_revision or self.created_revision + 1, prev_kv)
        self.responses: list[spec.Response] = []
        self.changed = threading.Condition()
        self.last_arrival = time.monotonic()
        self.closed = False
        self.socket.settimeout(None)  # the reader blocks; close() shuts the socket down
        self.thread = threading.Thread(target=self._read_loop, daemon=True)
        self.thread.start()

    # -- frames -----------------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        data, mask = json.dumps(message).encode(), os.urandom(4)
        length = len(data)
        if length < 126:
            head = bytes([0x81, 0x80 | length])
        elif length < 1 << 16:
            head = bytes([0x81, 0x80 | 126]) + struct.pack(">H", length)
        else:
            head = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.socket.sendall(head + mask + masked)

    def _exactly(self, count: int) -> bytes:
        data = self.reader.read(count)
        if data is None or len(data) != count:
            raise EOFError("websocket closed")
        return data

    def _receive(self) -> dict | None:
        """The next JSON message's "result" (fragments joined); None when the server closed."""
        message = b""
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._exactly(8))[0]
            mask = self._exactly(4) if second & 0x80 else b""
            payload = self._exactly(length)
            if mask:
                payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x8:
                return None
            if opcode in (0x9, 0xA):  # ping, pong: nothing to deliver
                continue
            message += payload
            if first & 0x80:  # FIN
                body = json.loads(message)
                if "error" in body:
                    raise EtcdProtocolError(f"watch stream error: {body}")
                return body.get("result", {})

    def _read_loop(self) -> None:
        try:
            while True:
                result = self._receive()
                if result is None:
                    break
                with self.changed:
                    self.responses.append(_response(result))
                    self.last_arrival = time.monotonic()
                    self.changed.notify_all()
        except (OSError, EOFError, ValueError, EtcdProtocolError) as failure:
            if not self.closed:
                with self.changed:
                    self.responses.append(spec.Response(canceled=True))  # seen as a failure
                    self.changed.notify_all()
                print(f"watch reader stopped: {failure!r}")
        finally:
            with self.changed:
                self.closed = True
                self.changed.notify_all()

    # -- requests ---------------------------------------------------------------------------------

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(predicate, timeout=WAIT_SECONDS):
                raise AssertionError(f"watch {self.params}: no {what} within {WAIT_SECONDS} s")

    def wait_quiet(self, seconds: float = QUIET_SECONDS) -> None:
        """Until nothing has arrived for `seconds` (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with self.changed:
                silent = time.monotonic() - self.last_arrival
            if silent >= seconds:
                return
            time.sleep(seconds - silent)
        raise AssertionError(f"watch {self.params}: never went quiet")

    def request_progress(self) -> spec.Response:
        """Send a progress request; answer the progress notification it brought."""
        with self.changed:
            before = sum(response.progress for response in self.responses)
        self._send({"progress_request": {}})
        self._wait(lambda: sum(r.progress for r in self.responses) > before,
                   "progress notification")
        with self.changed:
            return [r for r in self.responses if r.progress][before]

    def cancel(self) -> None:
        """Send a cancel request and wait for the cancellation."""
        self._send({"cancel_request": {"watch_id": self.watch_id}})
        self._wait(lambda: any(r.canceled for r in self.responses), "cancellation")

    def last_event_revision(self) -> int:
        with self.changed:
            return max((e.revision for r in self.responses for e in r.events), default=0)

    def close(self) -> spec.WatchStream:
        with self.changed:
            self.closed = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(WAIT_SECONDS)
        self.socket.close()
        return spec.WatchStream(*self.params, self.created_revision, tuple(self.responses))


def read_committed_history(base_url: str, final_revision: int) -> list[spec.Event]:
    """Every committed event, from a plain HTTP watch over all keys from revision 1, read
    until the event at `final_revision` (revision 1 is the empty store: nothing to read)."""
    events: list[spec.Event] = []
    if final_revision <= 1:
        return events
    connection = http.client.HTTPConnection(base_url[len("http://"):], timeout=WAIT_SECONDS)
    try:
        create = {"key": _b64(ALL_KEYS), "range_end": _b64(ALL_KEYS), "start_revision": 1}
        connection.request("POST", "/v3/watch", json.dumps({"create_request": create}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        while not events or events[-1].revision < final_revision:
            line = response.readline()
            if not line:
                raise EtcdProtocolError("history watch closed early")
            result = json.loads(line).get("result", {})
            assert not result.get("canceled"), result
            events += [to_event(_event(body)) for body in result.get("events", [])]
    finally:
        connection.close()
    return events


# ---- the concurrent workload -------------------------------------------------------------------

class Recorder:
    """The Jepsen history: every event gets the next index under one lock, and is appended
    under that same lock, so list order, index order and real time agree."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.operations: list[Operation] = []
        self.completed = 0
        self.progress = threading.Condition(self.lock)

    def record(self, process, kind: str, f: str, value, key) -> None:
        with self.lock:
            self.operations.append(Operation(process, kind, f, value, key,
                                             len(self.operations)))
            if kind != "invoke":
                self.completed += 1
                self.progress.notify_all()


@dataclass
class Effect:
    """What a client was told about one of its writes: the revision and the events there."""

    revision: int
    events: list[tuple[str, bytes, bytes]]  # (type, key, value)
    whole: bool = True  # False for a delete that deleted nothing (no revision of its own)


def _text(data: bytes) -> str:
    return data.decode()


class Writer:
    """One client thread: OPERATIONS_PER_THREAD random operations over KEYS."""

    def __init__(self, number: int, client: ShortTimeoutClient, recorder: Recorder,
                 paused: threading.Barrier, resumed: threading.Barrier) -> None:
        self.number, self.client, self.recorder = number, client, recorder
        self.paused, self.resumed = paused, resumed
        self.rng = random.Random(SEED * 10 + number)
        self.generation = 0
        self.seen: dict[str, str | None] = {}
        self.effects: list[Effect] = []
        self.unknown = 0
        self.failure: BaseException | None = None

    def process(self, part: str = "") -> tuple:
        return (self.number, self.generation, part) if part else (self.number, self.generation)

    def run(self) -> None:
        try:
            for n in range(OPERATIONS_PER_THREAD):
                if n == PAUSE_AT:
                    self.paused.wait(WAIT_SECONDS)
                    self.resumed.wait(WAIT_SECONDS)
                self.step(n)
        except threading.BrokenBarrierError:
            return
        except BaseException as failure:  # noqa: BLE001 (reported by the fixture)
            self.failure = failure

    def call(self, operations: list[tuple[Any, str, Any, str]], request,
             interpret: Callable[[Any], list[tuple[str, Any]]]) -> None:
        """Invoke operations [(process, f, value, key)] together, send one request, complete
        each with interpret(response) [(type, value)]; any exception completes them :info."""
        for process, f, value, key in operations:
            self.recorder.record(process, "invoke", f, value, key)
        try:
            outcomes = interpret(self.client.execute(request))
        except Exception:  # noqa: BLE001 (a timeout, a refused or lost request: unknown)
            outcomes = [("info", value) for _, _, value, _ in operations]
            self.unknown += 1
            self.generation += 1  # Jepsen: a process that saw :info is not heard from again
        for (process, f, _, key), (kind, value) in zip(operations, outcomes):
            self.recorder.record(process, kind, f, value, key)

    def step(self, n: int) -> None:
        rng, key = self.rng, self.rng.choice(KEYS)
        choice = rng.random()
        if choice < 0.18:  # compare with the last value seen, often just read: some succeed
            if self.seen.get(key) is None or rng.random() < 0.5:
                self.get(key)
            old = self.seen.get(key)
            if old is not None:
                self.cas(key, old, f"c{self.number}-{n}")
            else:
                self.put(key, f"p{self.number}-{n}")
        elif choice < 0.28:
            self.txn(key, rng.choice([k for k in KEYS if k != key]), n)
        elif choice < 0.38:
            self.delete(key)
        elif choice < 0.68:
            self.put(key, f"p{self.number}-{n}")
        else:
            self.get(key)

    def get(self, key: str) -> None:
        def interpret(response):
            value = _text(response.kvs[0].value) if response.kvs else None
            self.seen[key] = value
            return [("ok", value)]
        self.call([(self.process(), "read", None, key)], RangeRequest(key.encode()), interpret)

    def put(self, key: str, value: str) -> None:
        def interpret(response):
            self.seen[key] = value
            self.effects.append(Effect(response.revision, [("PUT", key.encode(),
                                                            value.encode())]))
            return [("ok", value)]
        self.call([(self.process(), "write", value, key)],
                  PutRequest(key.encode(), value.encode()), interpret)

    def delete(self, key: str) -> None:
        def interpret(response):
            self.seen[key] = None
            self.effects.append(Effect(response.revision,
                                       [("DELETE", key.encode(), b"")] * response.deleted,
                                       whole=response.deleted > 0))
            return [("ok", None)]
        self.call([(self.process(), "delete", None, key)],
                  DeleteRangeRequest(key.encode()), interpret)

    def cas(self, key: str, old: str, new: str) -> None:
        """etcd's compare-and-set: a txn comparing the value (a missing key never compares
        equal, so `old` is always a value); succeeded=false is :fail."""
        request = TxnRequest((Compare(key.encode(), "VALUE", "EQUAL", old.encode()),),
                             (PutRequest(key.encode(), new.encode()),))

        def interpret(response):
            if not response.succeeded:
                self.seen.pop(key, None)
                return [("fail", (old, new))]
            self.seen[key] = new
            self.effects.append(Effect(response.revision, [("PUT", key.encode(),
                                                            new.encode())]))
            return [("ok", (old, new))]
        self.call([(self.process(), "cas", (old, new), key)], request, interpret)

    def txn(self, first: str, second: str, n: int) -> None:
        """Two puts in one txn (one revision, two events): for the checker, two writes by two
        processes invoked and completed together, each linearized somewhere in between, which
        the atomic txn satisfies (per-key models cannot say more; watches check atomicity)."""
        values = (f"x{self.number}-{n}a", f"x{self.number}-{n}b")
        request = TxnRequest((), tuple(PutRequest(k.encode(), v.encode())
                                       for k, v in zip((first, second), values)))

        def interpret(response):
            assert response.succeeded, response
            self.seen.update(zip((first, second), values))
            self.effects.append(Effect(response.revision, [
                ("PUT", k.encode(), v.encode()) for k, v in zip((first, second), values)]))
            return [("ok", v) for v in values]
        self.call([(self.process("a"), "write", values[0], first),
                   (self.process("b"), "write", values[1], second)], request, interpret)


@dataclass
class Run:
    """Everything one run recorded."""

    operations: list[Operation]
    effects: list[Effect]
    unknown: int
    final_revision: int
    final_kvs: list[spec.KV]
    history: spec.History
    streams: dict[str, spec.WatchStream]
    resumed: tuple[spec.WatchStream, spec.WatchStream]
    progress: list[tuple[int, spec.Response]] = field(default_factory=list)
    seconds: float = 0.0


def _current_revision(client: EtcdClient) -> int:
    return client.execute(RangeRequest(b"k/")).revision


def _run_workload() -> Run:
    started = time.monotonic()
    with running_etcd() as etcd:
        client = ShortTimeoutClient(etcd.base_url)
        recorder = Recorder()
        paused, resumed = threading.Barrier(THREADS + 1), threading.Barrier(THREADS + 1)
        writers = [Writer(n, client, recorder, paused, resumed) for n in range(THREADS)]
        prefix = WebSocketWatch(etcd.base_url, PREFIX, prefix_end(PREFIX), prev_kv=True)
        ranged = WebSocketWatch(etcd.base_url, *RANGE)
        watches = {"prefix-prev-kv": prefix}
        progress: list[tuple[int, spec.Response]] = []
        threads = [threading.Thread(target=writer.run, daemon=True) for writer in writers]
        try:
            for thread in threads:
                thread.start()
            # midway, under load: cancel the range watch, resume it from last seen + 1
            with recorder.progress:
                assert recorder.progress.wait_for(
                    lambda: recorder.completed >= CANCEL_AFTER_COMPLETIONS, WAIT_SECONDS)
            ranged.cancel()
            first = ranged.close()
            resume_at = max(ranged.last_event_revision() + 1, first.start_revision)
            again = WebSocketWatch(etcd.base_url, *RANGE, start_revision=resume_at)
            watches["range-resumed"] = again
            # every writer paused: once the streams are quiet, a progress request is truthful
            paused.wait(WAIT_SECONDS)
            revision = _current_revision(client)
            for watch in (prefix, again):
                watch.wait_quiet()
                progress.append((revision, watch.request_progress()))
            resumed.wait(WAIT_SECONDS)
            # a watch from a past revision, opened while the writers run again
            watches["key-from-past"] = WebSocketWatch(etcd.base_url, b"k/0", start_revision=2)
            for thread in threads:
                thread.join(WAIT_SECONDS * 3)
            for writer in writers:
                assert writer.failure is None, writer.failure
            assert not any(thread.is_alive() for thread in threads)
            final_revision = _current_revision(client)
            streams = {}
            for name, watch in watches.items():
                watch.wait_quiet()
                progress.append((final_revision, watch.request_progress()))
                watch.cancel()
                streams[name] = watch.close()
            final_kvs = [to_kv(kv) for kv in client.execute(
                RangeRequest(ALL_KEYS, ALL_KEYS)).kvs]
            events = read_committed_history(etcd.base_url, final_revision)
        finally:
            paused.abort()
            resumed.abort()
            for watch in [prefix, ranged, *watches.values()]:
                if not watch.closed:
                    watch.close()
    return Run(recorder.operations, [e for w in writers for e in w.effects],
               sum(w.unknown for w in writers), final_revision, final_kvs,
               spec.complete_history(events), streams, (first, streams["range-resumed"]),
               progress, time.monotonic() - started)


@pytest.fixture(scope="module")
def run() -> Run:
    recorded = _run_workload()
    kinds = collections.Counter((op.f, op.type) for op in recorded.operations
                                if op.type != "invoke")
    print(f"\nreal etcd run: {len(recorded.operations)} history events, revision "
          f"{recorded.final_revision}, {dict(sorted(kinds.items()))}, "
          f"{recorded.seconds:.2f} s")
    return recorded


# ---- linearizability ---------------------------------------------------------------------------

def test_the_recorded_history_is_concurrent_and_complete(run: Run) -> None:
    ops = run.operations
    assert [op.index for op in ops] == list(range(len(ops)))
    invokes = [op for op in ops if op.type == "invoke"]
    assert len(invokes) >= THREADS * OPERATIONS_PER_THREAD
    assert len(ops) == 2 * len(invokes)  # every invocation completed (maybe as :info)
    kinds = collections.Counter((op.f, op.type) for op in ops if op.type != "invoke")
    for wanted in [("read", "ok"), ("write", "ok"), ("delete", "ok"), ("cas", "ok"),
                   ("cas", "fail")]:
        assert kinds[wanted] > 0, (wanted, kinds)
    # real concurrency: some invocation happened while another process's call was open
    open_calls, overlapped = set(), 0
    for op in ops:
        if op.type == "invoke":
            overlapped += bool(open_calls)
            open_calls.add(op.process)
        else:
            open_calls.discard(op.process)
    assert overlapped > len(invokes) // 2


def test_real_etcd_history_is_linearizable(run: Run) -> None:
    outcome = check_history(run.operations, model_by_name("kv"))
    assert outcome.result == LINEARIZABLE, outcome


def _stale_read(operations: list[Operation]) -> tuple[int, Any] | None:
    """A position of an ok read and a value it cannot return: a value u written (ok) on its
    key by W1, where W1 completed before another ok write or delete W2 of that key was
    invoked, and W2 completed before the read was invoked. Values are unique, so u was
    overwritten for good before the read began."""
    invoked: dict[Any, Operation] = {}
    calls = []  # (f, key, value, invoked, completed, position of completion)
    for position, op in enumerate(operations):
        if op.type == "invoke":
            invoked[op.process] = op
            continue
        start = invoked.pop(op.process)
        if op.type == "ok":
            calls.append((op.f, op.key, op.value, start.index, op.index, position))
    for f, key, value, read_invoked, _, position in calls:
        if f != "read":
            continue
        for f2, key2, value2, inv2, done2, _ in calls:
            if key2 != key or f2 == "read" or done2 >= read_invoked:
                continue
            for f1, key1, value1, _, done1, _ in calls:
                if key1 != key or f1 not in ("write", "cas") or done1 >= inv2:
                    continue
                written = value1[1] if f1 == "cas" else value1
                overwritten_by = value2[1] if f2 == "cas" else value2
                if written != value and written != overwritten_by:
                    return position, written
    return None


def test_an_injected_stale_read_is_not_linearizable(run: Run) -> None:
    stale = _stale_read(run.operations)
    assert stale is not None, "no read followed two sequential writes of its key"
    position, value = stale
    mutated = list(run.operations)
    mutated[position] = replace_value(mutated[position], value)
    outcome = check_history(mutated, model_by_name("kv"))
    assert outcome.result == NOT_LINEARIZABLE, outcome
    assert outcome.window is not None
    # and the unmutated history around it stays fine: the failure is the injected read
    assert check_history(run.operations, model_by_name("kv")).result == LINEARIZABLE


def replace_value(op: Operation, value) -> Operation:
    return Operation(op.process, op.type, op.f, value, op.key, op.index, op.line, op.time)


# ---- the committed history ---------------------------------------------------------------------

def test_the_committed_history_matches_what_clients_were_told(run: Run) -> None:
    history = run.history
    revisions = [revision.revision for revision in history.revisions]
    assert revisions == list(range(2, run.final_revision + 1))  # no gap, nothing beyond
    by_revision = {r.revision: [(e.type, e.key, e.kv.value) for e in r.events]
                   for r in history.revisions}
    told = [effect for effect in run.effects if effect.whole]
    for effect in told:
        assert by_revision[effect.revision] == effect.events, effect
    assert len({effect.revision for effect in told}) == len(told)  # one write, one revision
    if run.unknown == 0:
        assert sorted(effect.revision for effect in told) == revisions
    assert any(len(r.events) == 2 for r in history.revisions)  # two-key txns committed
    # replaying the history gives the final keyspace, field by field
    state: dict[bytes, spec.KV] = {}
    for revision in history.revisions:
        for event in revision.events:
            if event.type == "PUT":
                state[event.key] = event.kv
            else:
                state.pop(event.key)
    assert sorted(state.values(), key=lambda kv: kv.key) == run.final_kvs


# ---- watches -----------------------------------------------------------------------------------

STREAMS = ("prefix-prev-kv", "range-resumed", "key-from-past")


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("guarantee", [name for name, _ in spec.STREAM_GUARANTEES])
def test_every_guarantee_holds_on_real_concurrent_watches(run: Run, name: str,
                                                          guarantee: str) -> None:
    check = dict(spec.STREAM_GUARANTEES)[guarantee]
    assert check(run.history, run.streams[name]) == []


@pytest.mark.parametrize("name", STREAMS)
def test_each_watch_delivered_everything_to_the_end(run: Run, name: str) -> None:
    stream = run.streams[name]
    wanted = spec.expected_events(run.history, stream, run.final_revision)
    assert [e.ident for e in stream.events()] == [e.ident for e in wanted]
    assert wanted, name
    assert stream.responses[-1].canceled  # closed by our cancel request, nothing after it


def test_the_watches_saw_concurrency(run: Run) -> None:
    prefix = run.streams["prefix-prev-kv"]
    assert any(len(r.events) == 2 for r in prefix.responses)  # a two-key txn, in one piece
    assert any(e.prev_kv is not None for e in prefix.events())
    past = run.streams["key-from-past"]
    assert past.start_revision == 2 and past.created_revision > 2 + 20  # replayed history
    first, second = run.resumed
    assert first.events() and second.events()
    assert first.responses[-1].canceled


def test_progress_notifications_were_requested_and_judged(run: Run) -> None:
    assert len(run.progress) >= len(STREAMS) + 2
    for revision, response in run.progress:
        assert response.progress and response.header_revision == revision
    midway = [r for r in run.progress if r[0] < run.final_revision]
    assert midway  # a bookmark with events after it, judged by check_bookmarkable
    assert any(r.progress for r in run.streams["prefix-prev-kv"].responses[:-2])


def test_the_resumed_watch_continues_exactly(run: Run) -> None:
    first, second = run.resumed
    assert spec.check_resumable(run.history, first, second) == []
    for stream in (first, second):
        for name, check in spec.STREAM_GUARANTEES:
            assert check(run.history, stream) == [], name
    # together they deliver every event of the range, exactly once, in order
    together = first.events() + second.events()
    merged = replace(first, responses=first.responses + second.responses)
    wanted = spec.expected_events(run.history, merged, run.final_revision)
    assert [e.ident for e in together] == [e.ident for e in wanted]


def test_the_validators_can_fail_on_the_real_streams(run: Run) -> None:
    """Negative controls on the real data: drop an event, repeat one, split a two-key txn,
    forge a prev_kv, resume one revision too late."""
    history, stream = run.history, run.streams["prefix-prev-kv"]
    responses = list(stream.responses)
    at = next(i for i, r in enumerate(responses) if len(r.events) == 2)
    pair = responses[at]
    split = responses[:at] + [replace(pair, events=pair.events[:1]),
                              replace(pair, events=pair.events[1:])] + responses[at + 1:]
    assert spec.check_atomic(history, replace(stream, responses=tuple(split)))
    dropped = responses[:at] + [replace(pair, events=pair.events[1:])] + responses[at + 1:]
    assert spec.check_reliable(history, replace(stream, responses=tuple(dropped)))
    twice = responses[:at + 1] + [pair] + responses[at + 1:]
    assert spec.check_unique(history, replace(stream, responses=tuple(twice)))
    event = next(e for e in stream.events() if e.prev_kv is not None)
    forged = [replace(r, events=tuple(replace(e, prev_kv=replace(e.prev_kv, value=b"forged"))
                                      if e is event else e for e in r.events))
              for r in responses]
    assert spec.check_prev_kv(history, replace(stream, responses=tuple(forged)))
    first, second = run.resumed
    late = replace(second, start_revision=second.start_revision + 1,
                   responses=tuple(replace(r, events=tuple(e for e in r.events
                                                           if e.revision > second.start_revision))
                                   for r in second.responses))
    assert spec.check_resumable(history, first, late)
