"""An API client (kubectl, or a controller's client-go) as a node of the simulated world.

- A client sends one request at a time to an instance (the one named, or the one it used
  last) and records what it sent and what came back in the shared ``ApiLog``. A request without
  an answer within ``request_timeout_ticks`` is recorded with code 0: its outcome is unknown
  (the instance may have crashed after writing), never retried.
- A watch runs beside requests. The client records each watch request as one stream; when the
  server closes it, or it goes silent (no event and no bookmark) for ``watch_silence_ticks``,
  the client starts a new watch from the last resourceVersion it saw, on the next instance,
  as a reflector does; a 410 ends the watch (the caller lists again).
- Credentials are whatever the caller hands a request: headers and a client certificate.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.apiserver.messages import ApiRequest, ApiResponse, WatchClosed, WatchEvent
from impl.sim.world import Output

__all__ = ["ApiClient", "ApiLog", "CallRecord", "StreamRecord", "ClientConfig", "Credentials"]


@attrs.frozen
class Credentials:
    identity: str  # the harness's name for it
    headers: tuple[tuple[str, str], ...] = ()
    certificate: Any = None


@attrs.frozen
class ClientConfig:
    request_timeout_ticks: int = 120  # a write may take a few store round trips and webhook calls
    # Bookmarks come every 10 ticks while the cache moves on; an instance cut off from the store
    # has nothing to say, so a client waits long before it gives up on the stream.
    watch_silence_ticks: int = 120


@attrs.define
class CallRecord:
    client: str
    request: ApiRequest
    instance: str
    identity: str
    started: int
    finished: int | None = None
    response: ApiResponse | None = None


@attrs.define
class StreamRecord:
    client: str
    request: ApiRequest
    instance: str
    identity: str
    started: int
    from_revision: int
    events: list[tuple[str, int, Any]] = attrs.field(factory=list)
    closed: bool = False
    error: ApiResponse | None = None
    last_heard: int = 0
    received: int = 0  # the sequence number of the last event received

    def take(self, event: WatchEvent, now: int) -> bool:
        """Record the stream's next event; False, recording nothing, when it is out of sequence
        (an HTTP stream loses nothing, so a gap or a repeat means the connection broke)."""
        if event.sequence != self.received + 1:
            return False
        self.received = event.sequence
        self.last_heard = now
        self.events.append((event.type, event.resource_version, event.object))
        return True

    @property
    def last_revision(self) -> int:
        return max((rv for _, rv, _ in self.events), default=self.from_revision)


class ApiLog:
    """What every client sent and received, in the order requests started."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self.streams: list[StreamRecord] = []


class ApiClient:
    def __init__(self, client_id: str, instances: tuple[str, ...], log: ApiLog,
                 config: ClientConfig = ClientConfig()) -> None:
        self.id = client_id
        self.instances = tuple(sorted(instances))
        self.log = log
        self.config = config
        self.now = 0
        self.current: CallRecord | None = None
        self.streams: dict[int, StreamRecord] = {}  # open watches by request id
        self.last_instance = self.instances[0]
        self._next_request = 0
        self._out = Output()

    @property
    def idle(self) -> bool:
        return self.current is None

    # ----- requests -----------------------------------------------------------------------

    def _request(self, method: str, path: str, query, body: bytes, credentials: Credentials,
                 content_type: str = "") -> ApiRequest:
        self._next_request += 1
        headers = credentials.headers + ((("Content-Type", content_type),) if content_type else ())
        return ApiRequest(self._next_request, method, path, tuple(query), headers, body, credentials.certificate)

    def send(self, method: str, path: str, credentials: Credentials, *, query=(), body: bytes = b"",
             content_type: str = "", instance: str | None = None) -> Output:
        assert self.idle, "one request at a time"
        target = instance or self.last_instance
        request = self._request(method, path, query, body, credentials, content_type)
        self.current = CallRecord(self.id, request, target, credentials.identity, self.now)
        self.log.calls.append(self.current)
        self.last_instance = target
        return Output(messages=[(target, request)])

    def watch(self, path: str, credentials: Credentials, *, query=(), from_revision: int = 0,
              instance: str | None = None) -> Output:
        target = instance or self.last_instance
        wanted = tuple(q for q in query if q[0] != "resourceVersion") + (
            ("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", str(from_revision)))
        request = self._request("GET", path, wanted, b"", credentials)
        stream = StreamRecord(self.id, request, target, credentials.identity, self.now, from_revision,
                              last_heard=self.now)
        self.streams[request.request_id] = stream
        self.log.streams.append(stream)
        return Output(messages=[(target, request)])

    # ----- inputs -------------------------------------------------------------------------

    def step(self, src: str, message: Any) -> Output:
        if isinstance(message, ApiResponse):
            self._on_response(src, message)
        elif isinstance(message, WatchEvent):
            self._on_event(src, message)
        elif isinstance(message, WatchClosed):
            self._on_closed(src, message)
        return self._ready()

    def _on_response(self, src: str, response: ApiResponse) -> None:
        stream = self.streams.get(response.request_id)
        if stream is not None and stream.instance == src:
            if response.code >= 300:  # the watch was refused (410 too old, 403, ...)
                stream.error = response
                stream.closed = True
                del self.streams[response.request_id]
            return
        call = self.current
        if call is None or call.request.request_id != response.request_id or call.instance != src:
            return  # late: the client gave up on it
        call.finished, call.response = self.now, response
        self.current = None

    def _on_event(self, src: str, event: WatchEvent) -> None:
        stream = self.streams.get(event.request_id)
        if stream is None or stream.instance != src:
            return
        if not stream.take(event, self.now):
            self._resume(stream)

    def _on_closed(self, src: str, closed: WatchClosed) -> None:
        stream = self.streams.get(closed.request_id)
        if stream is None or stream.instance != src:
            return
        self._resume(stream)

    def _resume(self, stream: StreamRecord) -> None:
        """Watch again from the last resourceVersion seen, on the next instance."""
        stream.closed = True
        del self.streams[stream.request.request_id]
        self._out.messages.append((stream.instance, WatchClosed(stream.request.request_id, "client resumes")))
        following = self.instances[(self.instances.index(stream.instance) + 1) % len(self.instances)]
        credentials = Credentials(stream.identity, tuple(h for h in stream.request.headers),
                                  stream.request.client_certificate)
        self._out.extend(self.watch(stream.request.path, credentials, query=stream.request.query,
                                    from_revision=stream.last_revision, instance=following))

    def tick(self) -> Output:
        self.now += 1
        call = self.current
        if call is not None and self.now - call.started >= self.config.request_timeout_ticks:
            self.current = None  # unknown outcome: finished stays None
            self.last_instance = self.instances[(self.instances.index(call.instance) + 1) % len(self.instances)]
        for request_id in sorted(self.streams):
            stream = self.streams.get(request_id)
            if stream is not None and self.now - stream.last_heard >= self.config.watch_silence_ticks:
                self._resume(stream)
        return self._ready()

    def stop_watches(self) -> Output:
        for request_id in sorted(self.streams):
            stream = self.streams.pop(request_id)
            stream.closed = True
            self._out.messages.append((stream.instance, WatchClosed(request_id, "client stops")))
        return self._ready()

    def _ready(self) -> Output:
        out, self._out = self._out, Output()
        return out
