"""An API server instance in-process, over one MVCC store: no network, no ticks between steps.

For unit tests and benchmarks: ``LocalApiServer.call(request)`` runs the whole pipeline and
answers the store's calls at once, then feeds the watch caches from the store's own watch, so
a watch or a cached list sees every write that finished before it. Webhooks are Python callables
(``webhooks[name](review) -> review``) instead of services in the world.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from impl.apiserver.core import ApiServerCore, AuditLog, ServerConfig
from impl.apiserver.messages import ApiRequest, WebhookCall, WebhookReply
from impl.apiserver.storage import LocalStore, StoreAnswer, StoreCall
from impl.apiserver.storelink import REGISTRY_END, REGISTRY_KEY
from impl.etcd.mvcc import Store
from impl.etcd.types import RangeRequest

__all__ = ["LocalApiServer"]


class LocalApiServer(ApiServerCore):
    def __init__(self, store: Store | None = None, seed: int = 0, config: ServerConfig = ServerConfig(),
                 audit_log: AuditLog | None = None, node_id: str = "local") -> None:
        super().__init__(node_id, random.Random(seed), config, audit_log)
        self.local = LocalStore(store)
        self.webhooks: dict[str, Callable[[dict], Any]] = {}
        self.outbox: list[tuple[str, Any]] = []  # watch events sent to clients
        self._feed = self.local.store.watch(REGISTRY_KEY, REGISTRY_END)
        listed = self.local.store.execute(RangeRequest(REGISTRY_KEY, REGISTRY_END))
        self.outbox.extend(self.replace_caches(listed.kvs, listed.revision))
        self._next_request = 0

    def call(self, request: ApiRequest, client: str = "client") -> Any:
        """The response (or, for a watch, the events it began with, as (client, event) pairs)."""
        ctx = self.begin(client, request)
        effects = self.pipeline.handle(ctx)
        answer: Any = None
        while True:
            try:
                effect = effects.send(answer)
            except StopIteration as done:
                sent = self.finish(ctx, done.value)
                self.sync_caches()
                return sent[0][1] if len(sent) == 1 and sent[0][0] == client and not hasattr(sent[0][1], "type") \
                    else sent
            answer = self.answer(effect)

    def answer(self, effect: Any) -> Any:
        if isinstance(effect, StoreCall):
            answer = self.local.answer(effect)
            self.sync_caches()
            return answer
        if isinstance(effect, WebhookCall):
            hook = self.webhooks.get(effect.webhook)
            if hook is None:
                return WebhookReply(effect.call_id, None)
            return WebhookReply(effect.call_id, hook(effect.review))
        raise TypeError(f"unknown effect {effect!r}")

    def sync_caches(self) -> None:
        """Hand the store's new events to the caches (what the store watch would deliver)."""
        events = self._feed.pending[:]
        self._feed.pending.clear()
        if events:
            self.outbox.extend(self.apply_events(events, self.local.store.revision))
        else:
            self.progress(self.local.store.revision)

    def request(self, method: str, path: str, body: bytes = b"", query: tuple[tuple[str, str], ...] = (),
                headers: tuple[tuple[str, str], ...] = (), client: str = "client") -> Any:
        self._next_request += 1
        return self.call(ApiRequest(self._next_request, method, path, query, headers, body), client)
