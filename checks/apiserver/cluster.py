"""The apiserver harness: store members, API server instances, clients and a webhook service in
one simulated world, driven by scenario commands, with every apiserver invariant checked after
every command.

The store starts with the seed objects (``seed.py``) in one txn; the instances list it and
start serving. Clients act as the identities of the cast (``as alice ...``); every request and
watch they make, every audit event the instances record, and every change the store commits
are the observations (``observe.py``) the invariants judge.
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs

from checks.apiserver.observe import Observer
from checks.apiserver.seeder import Seeder
from checks.apiserver.seed import (
    IDENTITIES, WEBHOOK_BEHAVIOURS, WEBHOOK_SERVICE, authentication, credentials_for, seed_objects, seed_writes,
)
from checks.scenario import Strictness
from checks.world_commands import WorldCommands
from checks.violation import InvariantViolated, RecordsFindings
from impl.apiserver.bugs import ApiParts
from impl.apiserver.client import ApiClient, ApiLog, Credentials
from impl.apiserver.core import AuditLog, ServerConfig
from impl.apiserver.node import ApiServer
from impl.apiserver.webhook_service import MODES, WebhookService
from impl.etcd.member import EtcdMember
from impl.raft.config import RaftConfig
from impl.sim.network import NetworkFaults
from impl.sim.world import World

__all__ = ["ApiOptions", "ApiParts", "ApiCluster", "InvariantViolated", "SETTLE_TICKS_MAX", "START_TICKS_MAX"]

SETTLE_TICKS_MAX = 200
START_TICKS_MAX = 200
SEEDER = "s0"  # the etcd client that writes the seed objects (a restore from backup)
# Each cache keeps this many events (kube's --watch-cache-sizes; 100 by default): small enough that
# a run of a few dozen writes outgrows it, so a watch from an old resourceVersion meets 410 Gone.
WATCH_CACHE_EVENTS = 16


@attrs.frozen
class ApiOptions:
    members: int = 1
    apiservers: int = 2
    clients: int = 2
    seed: int = 0
    webhooks: bool = False
    faults: NetworkFaults = NetworkFaults()

    def line(self) -> str:
        words = [f"cluster members={self.members} apiservers={self.apiservers} clients={self.clients} "
                 f"seed={self.seed}"]
        if self.webhooks:
            words.append("webhooks")
        if self.faults != NetworkFaults():
            words.append(self.faults.describe())
        return " ".join(words)


class ApiCluster(WorldCommands, RecordsFindings, Strictness):
    def __init__(self, options: ApiOptions, parts: ApiParts = ApiParts()) -> None:
        self.options = options
        self.parts = parts
        self.member_ids = tuple(f"n{i}" for i in range(1, options.members + 1))
        self.instance_ids = tuple(f"a{i}" for i in range(1, options.apiservers + 1))
        self.client_ids = tuple(f"u{i}" for i in range(1, options.clients + 1))
        self.audit_log = AuditLog()
        self.api_log = ApiLog()
        # Not Random(seed): the world's RNG is seeded with it too, and the instances draw the UIDs
        # of new objects from the world's, so the seed's UIDs came back on created objects.
        rng = random.Random(f"seed objects {options.seed}")
        self.seed_objects = self._seed_objects(rng)
        self.credentials_rng = random.Random(options.seed + 1)
        nodes = (self.member_ids + self.instance_ids + self.client_ids + (SEEDER, WEBHOOK_SERVICE)
                 + self._extra_node_ids())
        self.world = World(nodes, self._build, options.seed, options.faults)
        self.observer = Observer(self)
        self.lines: list[str] = [options.line()]
        self.violation: InvariantViolated | None = None
        self.credentials: dict[str, Credentials] = {}
        self.seed_revision = 0
        self.world.observers.append(self.observer.store_changed)
        self._start()

    def _seed_objects(self, rng: random.Random) -> list[dict[str, Any]]:
        """The objects the store starts with (a subclass may add its own after these)."""
        return seed_objects(rng, self.options.webhooks)

    def _extra_node_ids(self) -> tuple[str, ...]:
        """World nodes a subclass adds (its ``_build`` makes them)."""
        return ()

    def _build(self, node_id: str, ids: tuple[str, ...], disk, rng):
        if node_id in self.member_ids:
            config = RaftConfig(pre_vote=True, check_quorum=True)
            return EtcdMember(node_id, self.member_ids, disk, rng, raft_config=config)
        if node_id in self.instance_ids:
            return self.parts.apiserver(node_id, self.member_ids, rng, ServerConfig(
                authentication(), watch_cache_events=WATCH_CACHE_EVENTS), self.audit_log)
        if node_id in self.client_ids:
            return ApiClient(node_id, self.instance_ids, self.api_log)
        if node_id == SEEDER:
            return Seeder(node_id, self.member_ids)
        return WebhookService(node_id, WEBHOOK_BEHAVIOURS)

    def _start(self) -> None:
        """Elect a store leader, write the seed objects, let the instances list them."""
        for _ in range(START_TICKS_MAX):
            if self._leader() is not None:
                break
            self.world.tick()
        seeder: Seeder = self.world.nodes[SEEDER]
        self.world.apply(SEEDER, seeder.seed(self._leader() or self.member_ids[0], seed_writes(self.seed_objects)))
        for _ in range(START_TICKS_MAX):
            if seeder.idle and all(self._instance_ready(a) for a in self.instance_ids):
                break
            self.world.tick()
        for identity in IDENTITIES:
            self.credentials[identity.name] = credentials_for(identity, self.seed_objects, self.world.now,
                                                              self.credentials_rng)
        self.seed_revision = self.observer.revision()

    def _leader(self) -> str | None:
        leaders = [m for m in self.member_ids if self.world.nodes[m] is not None and self.world.nodes[m].is_leader]
        return leaders[-1] if leaders else None

    def _instance_ready(self, instance_id: str) -> bool:
        node = self.world.nodes[instance_id]
        return node is not None and node.ready() and node.cache_revision() > len(self.seed_objects)

    # ----- nodes --------------------------------------------------------------------------

    def instance(self, node_id: str) -> ApiServer | None:
        return self.world.nodes[node_id]

    def client(self, client_id: str) -> ApiClient:
        return self.world.nodes[client_id]

    def webhook_service(self) -> WebhookService:
        return self.world.nodes[WEBHOOK_SERVICE]

    @property
    def ids(self) -> tuple[str, ...]:
        """Who a counterexample's diagram draws."""
        return self.member_ids + self.instance_ids + self.client_ids + (WEBHOOK_SERVICE,)

    # ----- recording and checking ---------------------------------------------------------

    def _run(self, line: str, action) -> None:
        self._record(line)
        action()
        self.check()

    def check(self) -> None:
        if self.violation is not None:
            return
        found = self.observer.check()
        if found is not None:
            invariant, message = found
            self.fail(invariant, message)

    # ----- world commands -----------------------------------------------------------------

    def settle(self) -> None:
        """Tick until every client has its answer (bounded)."""
        def run() -> None:
            for _ in range(SETTLE_TICKS_MAX):
                if all(self.client(c).idle for c in self.client_ids):
                    return
                self.world.tick()
        self._run("settle", run)

    def webhook(self, mode: str) -> None:
        assert mode in MODES, mode

        def run() -> None:
            service = self.webhook_service()
            if service.mode == mode:
                self.no_effect(f"the webhook service is already {mode}")
                return
            service.mode = mode
            self.world.trace.record(self.world.now, "webhook", WEBHOOK_SERVICE, mode)
        self._run(f"webhook {mode}", run)

    def compact(self) -> None:
        """Compact the store at its current revision (as kube-apiserver does every 5 minutes):
        watches and continue tokens from before it get 410."""
        def run() -> None:
            seeder: Seeder = self.world.nodes[SEEDER]
            revision = self.observer.revision()
            leader = self._leader()
            if not seeder.idle or leader is None or revision <= self.observer.compacted:
                self.no_effect("nothing new to compact (or no store leader)")
                return
            self.observer.compacted = revision
            self.world.apply(SEEDER, seeder.compact(leader, revision))
        self._run("compact", run)

    # ----- client requests ----------------------------------------------------------------

    def request(self, line: str, client_id: str, identity: str, method: str, path: str, *, query=(),
                body: Any = None, content_type: str = "", instance: str | None = None, headers=()) -> None:
        def run() -> None:
            client = self.client(client_id)
            if not client.idle:
                self.no_effect(f"{client_id} is busy: one request at a time")
                return
            if any(value == "" for key, value in query if key == "continue"):
                self.no_effect(f"{client_id}'s last list has no next page")
                return
            data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
            credentials = self.credentials[identity]
            if headers:
                credentials = attrs.evolve(credentials, headers=credentials.headers + tuple(headers))
            self.world.trace.record(self.world.now, "invoke", client_id, f"as {identity}: {method} {path}")
            self.world.apply(client_id, client.send(method, path, credentials, query=query, body=data,
                                                    content_type=content_type, instance=instance))
        self._run(line, run)

    def last_continue(self, client_id: str, path: str | None = None) -> str:
        """The continue token of the client's last list (of ``path``) ("" if it had no next page)."""
        for call in reversed(self.api_log.calls):
            if call.client == client_id and call.request.method == "GET" and call.response is not None \
                    and (path is None or call.request.path == path):
                body = call.response.body
                meta = body.get("metadata") if isinstance(body, dict) and "items" in body else None
                if meta is not None:
                    return str(meta.get("continue") or "")
        return ""

    def watch(self, line: str, client_id: str, identity: str, path: str, from_revision: int, *, query=(),
              instance: str | None = None) -> None:
        def run() -> None:
            client = self.client(client_id)
            self.world.apply(client_id, client.watch(path, self.credentials[identity], query=query,
                                                     from_revision=from_revision, instance=instance))
        self._run(line, run)

    def stop_watches(self, client_id: str) -> None:
        def run() -> None:
            client = self.client(client_id)
            if not client.streams:
                self.no_effect(f"{client_id} has no watch open")
                return
            self.world.apply(client_id, client.stop_watches())
        self._run(f"stop-watches {client_id}", run)
