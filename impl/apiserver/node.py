"""An API server instance as a node of the simulated world: a client of the store members
through the network, serving API clients and calling webhook services.

Sans-I/O: ``step(src, message)`` and ``tick()`` return an ``Output`` of messages. Each request
is a generator (``pipeline.Pipeline.handle``) suspended on its effects: a store call waits for
the member's answer (``storelink.StoreLink`` routes it back), a webhook call for the service's
reply or its timeout. An instance keeps nothing on disk: after a crash it starts again by
listing the store.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from impl.apiserver.core import ApiServerCore, AuditLog, ServerConfig
from impl.apiserver.messages import ApiRequest, WatchClosed, WebhookCall, WebhookReply
from impl.apiserver.storage import StoreAnswer, StoreCall
from impl.apiserver.storelink import LinkConfig, StoreLink
from impl.etcd.messages import ClientResponse, WatchResponse
from impl.sim.world import Output

__all__ = ["ApiServer", "BOOKMARK_TICKS"]

BOOKMARK_TICKS = 10  # how often a watcher that asked for bookmarks gets one


@attrs.define
class _Running:
    ctx: Any
    effects: Any


@attrs.define
class _WebhookWait:
    token: int
    webhook: str
    service: str
    sent_at: int
    timeout_ticks: int


class ApiServer(ApiServerCore):
    def __init__(self, node_id: str, store_members: tuple[str, ...], rng: random.Random,
                 config: ServerConfig = ServerConfig(), audit_log: AuditLog | None = None,
                 link: LinkConfig = LinkConfig()) -> None:
        super().__init__(node_id, rng, config, audit_log)
        self.link = StoreLink(store_members, link)
        self.running: dict[int, _Running] = {}
        self.webhook_waits: dict[int, _WebhookWait] = {}
        self._tokens = 0
        self._out = Output()
        self._started = False

    # ----- inputs -------------------------------------------------------------------------

    def tick(self) -> Output:
        self.now += 1
        self.link.now = self.now
        if not self._started:
            self._started = True
            self._send(self.link.start_feed())
        finished, resend = self.link.tick(self.now)
        self._send(resend)
        self._finished(finished)
        self._tick_webhooks()
        if self.link.feed_silent():
            self._send(self.link.resume_feed())
        if self.now % BOOKMARK_TICKS == 0:
            for name in sorted(self.caches):
                self._send(self.caches[name].bookmarks())
        return self._ready()

    def step(self, src: str, message: Any) -> Output:
        handler = getattr(self, f"_on_{type(message).__name__}", None)
        if handler is not None:
            handler(src, message)
        return self._ready()

    def _on_ApiRequest(self, src: str, request: ApiRequest) -> None:
        ctx = self.begin(src, request)
        self._tokens += 1
        token = self._tokens
        self.running[token] = _Running(ctx, self.pipeline.handle(ctx))
        self._resume(token, None)

    def _on_WatchClosed(self, src: str, message: WatchClosed) -> None:
        """A client ends its watch."""
        self.stop_watch(src, message.request_id)

    def _on_ClientResponse(self, src: str, response: ClientResponse) -> None:
        finished, out = self.link.on_response(src, response)
        self._send(out)
        self._finished(finished)

    def _finished(self, finished: list) -> None:
        """Store calls that ended (answered, failed or timed out): the feed's list, or a request's."""
        for token, answer in finished:
            if token == StoreLink.FEED:
                self._listed(answer)
            else:
                self._resume(token, answer)

    def _on_WatchResponse(self, src: str, response: WatchResponse) -> None:
        what, events = self.link.on_watch(src, response)
        if what == "events":
            events = [e for e in events if e.kv.mod_revision > self.link.feed.revision]  # seen before resuming
            if not events:
                return
            self.link.feed.revision = max(e.kv.mod_revision for e in events)
            self._send(self.apply_events(events, self.link.feed.revision))
        elif what == "progress":
            self.link.feed.revision = max(self.link.feed.revision, response.header_revision)
            self.progress(self.link.feed.revision)
        elif what == "relist":
            self._send(self.link.start_feed())
        elif what == "resume":
            self._send(self.link.resume_feed())

    def _on_WebhookReply(self, src: str, reply: WebhookReply) -> None:
        wait = self.webhook_waits.get(reply.call_id)
        if wait is None or wait.service != src:
            return  # after its timeout, or not from the service we called
        del self.webhook_waits[reply.call_id]
        self._resume(wait.token, reply)

    # ----- the feed -----------------------------------------------------------------------

    def _listed(self, answer: StoreAnswer) -> None:
        if answer.error is not None:
            self._send(self.link.start_feed())  # try again (the link moved to another member)
            return
        response = answer.response
        self._send(self.replace_caches(response.kvs, response.revision))
        self._send(self.link.watch_from(response.revision))

    # ----- requests in flight -------------------------------------------------------------

    def _resume(self, token: int, value: Any) -> None:
        running = self.running.get(token)
        if running is None:
            return
        try:
            effect = running.effects.send(value)
        except StopIteration as done:
            del self.running[token]
            self._send(self.finish(running.ctx, done.value))
            return
        if isinstance(effect, StoreCall):
            self._send(self.link.send(effect.op, token))
        elif isinstance(effect, WebhookCall):
            self.webhook_waits[effect.call_id] = _WebhookWait(token, effect.webhook, effect.service, self.now,
                                                              effect.timeout_ticks)
            self._send([(effect.service, effect)])
        else:
            raise TypeError(f"a request yielded {effect!r}")

    def _tick_webhooks(self) -> None:
        for call_id, wait in sorted(self.webhook_waits.items()):
            if self.now - wait.sent_at >= wait.timeout_ticks:
                del self.webhook_waits[call_id]
                self._resume(wait.token, WebhookReply(call_id, None))

    def store_reachable(self) -> bool:
        return self.link.reachable()

    # ----- output -------------------------------------------------------------------------

    def _send(self, messages: list[tuple[str, Any]]) -> None:
        self._out.messages.extend(messages)

    def _ready(self) -> Output:
        out, self._out = self._out, Output()
        return out
