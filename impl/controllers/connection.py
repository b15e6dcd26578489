"""A controller's connection to the API server instances: client-go's transport, sans-I/O.

``impl.apiserver.client.ApiClient`` is kubectl: one request at a time, and a watch it resumes by
itself. A controller is different: its informers list and watch while its workers read and write,
all at once, and each informer (a reflector) decides for itself how to go on when a watch ends,
from *its* last resourceVersion. So the connection:

- has many requests in flight, keyed by request id; each ends exactly once, with the server's
  answer or, when none came within ``request_timeout_ticks``, with an *unknown outcome*: an
  ``ApiResponse`` with code 0 (the instance may have written and crashed before answering; the
  write may still land). A late answer to a request given up on is dropped.
- sends to one instance at a time (``instance``): the one ``prefer`` named (a restarted
  controller pointed at a lagging instance is Sieve's stale-state perturbation), else the first.
  A request timing out there, or a watch on it going silent, moves the connection to the next
  instance in sorted order (client-go behind a load balancer gets a new backend the same way).
- runs watches beside the requests, with bookmarks. A stream ends, and the end is reported
  (``WatchEnded``), when the server closes it, when it refuses it (410 Gone, 429, 403...), when
  an event arrives out of sequence (an HTTP stream loses nothing, so a gap or a duplicate means
  the connection broke), or when it stays silent (no event, no bookmark) for
  ``watch_silence_ticks``. The connection never watches again by itself.
- records every request and watch in the shared ``ApiLog`` (``CallRecord``, ``StreamRecord``,
  as ``ApiClient`` does), so that the apiserver invariants judge controller traffic too. A
  request that timed out stays unfinished there (its code is 0 to the checks).
- hands the owner its own copy of every body: on the wire a body is JSON, so what a client
  decodes is never the server's object. The log keeps the message as it arrived.

Driving it: ``send`` and ``watch`` return the request id and queue the message; ``step(src,
message)`` and ``tick(now)`` take input; ``drain()`` returns what came back since the last
drain, in arrival order: ``ApiResponse`` (a finished request, code 0 when unknown), ``WatchEvent``
(in sequence, with ``request_id`` the watch's) and ``WatchEnded``; ``output()`` returns the
messages to send. An owner routes drained items by ``request_id``: a reconcile generator that
yielded a request is resumed with the ``ApiResponse`` of the id ``send`` gave it.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from impl.apiserver.client import ApiLog, CallRecord, ClientConfig, Credentials, StreamRecord
from impl.apiserver.messages import ApiRequest, ApiResponse, WatchClosed, WatchEvent
from impl.sim.world import Output

__all__ = ["ApiConnection", "WatchEnded", "Received", "UNKNOWN_CODE",
           "CLOSED", "OUT_OF_SEQUENCE", "SILENT", "REFUSED"]

UNKNOWN_CODE = 0  # the response of a request nobody answered in time: its outcome is unknown

# Why a watch ended.
CLOSED = "closed"  # the server closed the stream (its watch cache reinitialized, or it stopped)
OUT_OF_SEQUENCE = "out of sequence"  # an event was lost or repeated: the stream is broken
SILENT = "silent"  # no event and no bookmark for watch_silence_ticks
REFUSED = "refused"  # the server answered the watch request with an error (``response``)


@attrs.frozen
class WatchEnded:
    """A watch is over; the owner decides whether to watch again or to list."""

    request_id: int
    reason: str
    response: ApiResponse | None = None  # the refusal, for REFUSED

    @property
    def code(self) -> int:
        return self.response.code if self.response is not None else 0

    def describe(self) -> str:
        refusal = f" {self.response.describe()}" if self.response is not None else ""
        return f"#{self.request_id} watch ended: {self.reason}{refusal}"


Received = ApiResponse | WatchEvent | WatchEnded


def decoded(body: Any) -> Any:
    """The client's own copy of a body, as JSON decoding gives it."""
    return json.loads(json.dumps(body)) if body is not None else None


class ApiConnection:
    def __init__(self, client_id: str, instances: tuple[str, ...], log: ApiLog, credentials: Credentials,
                 config: ClientConfig = ClientConfig(), *, instance: str | None = None,
                 first_request_id: int = 1) -> None:
        """``first_request_id``: a restarted controller keeps its node id, so its new connection
        must not reuse the ids its old one sent (an instance keys watches by client and id)."""
        assert instances, "a connection needs at least one API server instance"
        self.id = client_id
        self.instances = tuple(sorted(instances))
        self.log = log
        self.credentials = credentials
        self.config = config
        self.now = 0
        self.instance = self.instances[0]
        self.calls: dict[int, CallRecord] = {}  # requests in flight by id
        self.streams: dict[int, StreamRecord] = {}  # open watches by id
        self._next_request = first_request_id - 1
        self._received: list[Received] = []
        self._out = Output()
        if instance is not None:
            self.prefer(instance)

    @property
    def idle(self) -> bool:
        """No request in flight (open watches do not count)."""
        return not self.calls

    def prefer(self, instance: str) -> None:
        """Send new requests and watches to ``instance`` (those in flight stay where they are)."""
        assert instance in self.instances, f"{instance} is not one of {self.instances}"
        self.instance = instance

    def _fail_over(self, instance: str) -> None:
        """``instance`` did not answer: move on, unless the connection already has."""
        if instance == self.instance:
            self.instance = self.instances[(self.instances.index(instance) + 1) % len(self.instances)]

    # ----- requests -----------------------------------------------------------------------

    def _request(self, method: str, path: str, query, body: bytes, content_type: str, user_agent: str = "") -> ApiRequest:
        self._next_request += 1
        headers = self.credentials.headers + ((("Content-Type", content_type),) if content_type else ()) \
            + ((("User-Agent", user_agent),) if user_agent else ())
        return ApiRequest(self._next_request, method, path, tuple(query), headers, body,
                          self.credentials.certificate)

    def send(self, method: str, path: str, *, query=(), body: Any = None, content_type: str = "",
             user_agent: str = "") -> int:
        """Queue a request; its answer comes out of ``drain`` with the returned id. ``body`` is
        bytes, or anything JSON-encodable (encoded here). ``user_agent``: which controller of the
        process sends it (client-go's ``rest.AddUserAgent``), so a log tells them apart."""
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        request = self._request(method, path, query, data, content_type, user_agent)
        call = CallRecord(self.id, request, self.instance, self.credentials.identity, self.now)
        self.calls[request.request_id] = call
        self.log.calls.append(call)
        self._out.messages.append((self.instance, request))
        return request.request_id

    def watch(self, path: str, from_revision: int, *, query=()) -> int:
        """Open a watch of ``path`` for every change after ``from_revision``, with bookmarks."""
        assert from_revision >= 0, from_revision
        wanted = tuple(q for q in query if q[0] not in ("watch", "allowWatchBookmarks", "resourceVersion")) + (
            ("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", str(from_revision)))
        request = self._request("GET", path, wanted, b"", "")
        stream = StreamRecord(self.id, request, self.instance, self.credentials.identity, self.now, from_revision,
                              last_heard=self.now)
        self.streams[request.request_id] = stream
        self.log.streams.append(stream)
        self._out.messages.append((self.instance, request))
        return request.request_id

    def stop_watch(self, request_id: int) -> None:
        """The owner is done with a watch (no ``WatchEnded`` for it)."""
        stream = self.streams.pop(request_id, None)
        if stream is not None:
            stream.closed = True
            self._out.messages.append((stream.instance, WatchClosed(request_id, "client stops")))

    # ----- inputs -------------------------------------------------------------------------

    def step(self, src: str, message: Any) -> None:
        if isinstance(message, ApiResponse):
            self._on_response(src, message)
        elif isinstance(message, WatchEvent):
            self._on_event(src, message)
        elif isinstance(message, WatchClosed):
            self._on_closed(src, message)

    def _on_response(self, src: str, response: ApiResponse) -> None:
        stream = self.streams.get(response.request_id)
        if stream is not None:
            if stream.instance == src and response.code >= 300:  # the watch was refused
                stream.error = response
                self._end(stream, REFUSED, attrs.evolve(response, body=decoded(response.body)), tell_server=False)
            return
        call = self.calls.get(response.request_id)
        if call is None or call.instance != src:
            return  # late (given up on), duplicated, or not ours
        del self.calls[response.request_id]
        call.finished, call.response = self.now, response
        self._received.append(attrs.evolve(response, body=decoded(response.body)))

    def _on_event(self, src: str, event: WatchEvent) -> None:
        stream = self.streams.get(event.request_id)
        if stream is None or stream.instance != src:
            return
        if not stream.take(event, self.now):
            self._end(stream, OUT_OF_SEQUENCE)
            return
        self._received.append(attrs.evolve(event, object=decoded(event.object)))

    def _on_closed(self, src: str, closed: WatchClosed) -> None:
        stream = self.streams.get(closed.request_id)
        if stream is not None and stream.instance == src:
            self._end(stream, CLOSED, tell_server=False)

    def _end(self, stream: StreamRecord, reason: str, response: ApiResponse | None = None, *,
             tell_server: bool = True) -> None:
        request_id = stream.request.request_id
        stream.closed = True
        del self.streams[request_id]
        if tell_server:  # so that the instance stops sending on a stream nobody reads
            self._out.messages.append((stream.instance, WatchClosed(request_id, f"client ends: {reason}")))
        self._received.append(WatchEnded(request_id, reason, response))

    def tick(self, now: int) -> None:
        """Time is ``now`` (the owner's clock): requests time out, silent watches end."""
        assert now >= self.now, f"time went back from {self.now} to {now}"
        self.now = now
        for request_id in sorted(self.calls):
            call = self.calls[request_id]
            if now - call.started >= self.config.request_timeout_ticks:
                del self.calls[request_id]  # the record stays unfinished: its outcome is unknown
                self._received.append(ApiResponse(request_id, UNKNOWN_CODE))
                self._fail_over(call.instance)
        for request_id in sorted(self.streams):
            stream = self.streams[request_id]
            if now - stream.last_heard >= self.config.watch_silence_ticks:
                self._end(stream, SILENT)
                self._fail_over(stream.instance)

    # ----- outputs ------------------------------------------------------------------------

    def drain(self) -> list[Received]:
        """What came back since the last drain, in the order it came."""
        received, self._received = self._received, []
        return received

    def output(self) -> Output:
        """The messages to send since the last call."""
        out, self._out = self._out, Output()
        return out
