"""A controller process (kube-controller-manager, a scheduler, an operator) as a node of the world.

One ``ControllerHost`` runs reconcilers the way client-go and controller-runtime run them:

- One ``ApiConnection`` to the API server instances, and one shared informer per resource and
  selectors any reconciler watches. Each informer's events go to every reconciler watching that
  resource with those selectors, through its ``Watch`` mapping, into that reconciler's
  ``WorkQueue``. The ``Cache`` reads a resource's unfiltered informer, or its only filtered one.
- Each reconciler has ``workers`` workers. A worker takes a key from its queue only once every
  informer the reconciler reads has synced (client-go's ``WaitForCacheSync``), runs the
  reconcile generator, sends each ``Call`` it yields and resumes it with the ``Answer``. When it
  returns, the key is done: forgotten on success, re-added with backoff on ``requeue``, after a
  delay on ``requeue_after``. A key is never worked on by two workers at once (the queue's
  processing set).
- With an ``ElectionConfig``, the host is one of several candidates for a Lease (as
  kube-controller-manager instances are): informers and workers start when it becomes leader.
  When it stops leading, kube-controller-manager exits; here the host drops everything it held
  in memory (caches, queues, reconciles in flight: their requests still travel, since nothing
  fences them) and comes back as a new candidate under a new identity, as a restarted process.
- A crash is the world's: the node is rebuilt from its disk, on which the host keeps only how
  many times it has started (so that request ids, which instances key watches by, are never
  reused; a real process gets a new TCP connection instead).

The trace notes each reconcile's start and end and each call it makes (kind ``reconcile``), so
a counterexample shows which reconcile wrote what.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator
from typing import Any

import attrs

from impl.apiserver.client import ApiLog, ClientConfig, Credentials
from impl.apiserver.messages import ApiResponse
from impl.apiserver.resources import resource_named
from impl.controllers.api import (OWNER, SELF, Answer, Cache, Call, Client, Reconciler, Request, Result,
                                  Watch, controller_owner, request_for)
from impl.controllers.connection import ApiConnection
from impl.controllers.informer import DeletedFinalStateUnknown, Handler, Informer, InformerConfig
from impl.controllers.leaderelection import CREATE, GET, UPDATE, CONFLICT, OK, UNKNOWN, ElectionConfig, LeaderElector
from impl.controllers.workqueue import WorkQueue
from impl.sim.disk import Disk
from impl.sim.world import Output

__all__ = ["ControllerHost", "HostConfig", "Worker", "REQUEST_IDS_PER_START", "informer_key", "user_agent",
           "USER_AGENT_PREFIX"]

REQUEST_IDS_PER_START = 1_000_000
STARTS_KEY = "starts"
USER_AGENT_PREFIX = "kinv/"


@attrs.frozen
class HostConfig:
    workers: int = 2  # per reconciler (kube-controller-manager runs 5 for most controllers)
    resync_ticks: int = 0  # kube-controller-manager resyncs every 12-24 h: never, in a run
    election: ElectionConfig | None = None  # None: a single instance that always runs
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-controller-manager"
    connection: ClientConfig = ClientConfig()
    instance: str | None = None  # the API server instance to talk to first


@attrs.define
class Worker:
    """One worker of one reconciler: the key it works on and the calls it waits for."""

    reconciler: Reconciler
    request: Request | None = None
    run: Generator[Call, Answer, Result | None] | None = None
    waiting_for: dict[int, int] = attrs.field(factory=dict)  # request id -> place in the batch
    answers: list[Answer | None] = attrs.field(factory=list)
    batch: bool = False  # the reconcile yielded a tuple of calls and gets a tuple of answers
    call: Call | None = None
    writes: int = 0  # writes this reconcile has made so far (Sieve's crash points sit between two)


class _Controller:
    """A reconciler with its queue and workers."""

    def __init__(self, reconciler: Reconciler, workers: int) -> None:
        self.reconciler = reconciler
        self.queue = WorkQueue()
        self.workers = [Worker(reconciler) for _ in range(workers)]
        self.resources = tuple(sorted({informer_key(w) for w in reconciler.watches}))


def user_agent(reconciler: Reconciler) -> str:
    """What a controller's requests say they come from: ``kinv/<controller name>``."""
    return f"{USER_AGENT_PREFIX}{reconciler.name}"


def informer_key(watch: Watch) -> str:
    """The plural for an unfiltered informer; with selectors, the plural and its query."""
    plural = resource_named(watch.resource).plural
    query = "&".join(f"{name}={value}" for name, value in watch.query())
    return f"{plural}?{query}" if query else plural


class ControllerHost:
    elector_class: type[LeaderElector] = LeaderElector  # what a catalog bug may replace

    def __init__(self, node_id: str, instances: tuple[str, ...], log: ApiLog, credentials: Credentials,
                 reconcilers: tuple[Reconciler, ...], config: HostConfig = HostConfig(), *, disk: Disk | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        """``clock``: the process's time (the world's tick, so a host started mid-run, or again
        after a crash, knows the time as a real process reads its wall clock); without one the
        host counts its own ticks from 0."""
        self.id = node_id
        self.instances = tuple(sorted(instances))
        self.log = log
        self.credentials = credentials
        # Each start of the process gets fresh reconcilers: their in-memory state (expectations,
        # a scheduler's assumed pods) must not outlive the process, as it would not in Go.
        self._blueprints = copy.deepcopy(tuple(reconcilers))
        self.reconcilers = tuple(reconcilers)
        self.config = config
        self._clock = clock
        self._ticks = 0
        self.client = Client()
        self.starts = self._count_start(disk)
        self._next_first_id = (self.starts - 1) * REQUEST_IDS_PER_START + 1
        self.incarnation = 0  # times this process came back after losing leadership
        self.elector: LeaderElector | None = None
        self._reconcilers_used = False
        self._election_call: int | None = None
        self.connection = self._connect()
        self.notes: list[tuple[str, str]] = []
        self._reset_controllers()
        if config.election is None:
            self._start_controllers()
        else:
            self.elector = self._elector()

    @property
    def now(self) -> int:
        return self._clock() if self._clock is not None else self._ticks

    # ----- lifecycle ----------------------------------------------------------------------

    @staticmethod
    def _count_start(disk: Disk | None) -> int:
        if disk is None:
            return 1
        starts = (disk.read(STARTS_KEY) or 0) + 1
        disk.write(STARTS_KEY, starts)
        disk.sync()
        return starts

    def _identity(self) -> str:
        return f"{self.id}_{self.starts}.{self.incarnation}"

    def _elector(self) -> LeaderElector:
        return self.elector_class(self._identity(), self.config.election, namespace=self.config.lease_namespace,
                             name=self.config.lease_name)

    def _connect(self) -> ApiConnection:
        first = self._next_first_id
        self._next_first_id += REQUEST_IDS_PER_START // 1000  # each leadership term its own range
        connection = ApiConnection(self.id, self.instances, self.log, self.credentials, self.config.connection,
                                   instance=self.config.instance, first_request_id=first)
        connection.now = self.now  # its first requests are stamped with the tick they leave at
        return connection

    def _reset_controllers(self) -> None:
        self.running = False
        self.informers: dict[str, Informer] = {}  # by informer_key
        self._by_plural: dict[str, Informer] = {}  # what the cache reads
        if self._reconcilers_used:
            self.reconcilers = copy.deepcopy(self._blueprints)
        self._reconcilers_used = True
        self.controllers = [_Controller(r, self.config.workers) for r in self.reconcilers]
        self._calls: dict[int, tuple[_Controller, Worker]] = {}  # reconcile calls in flight by request id
        self.cache = Cache({}, lambda plural: False)

    def _start_controllers(self) -> None:
        """Informers for every watched resource, handlers into the queues (OnStartedLeading)."""
        self.running = True
        watches = {informer_key(w): w for c in self.controllers for w in c.reconciler.watches}
        informer_config = InformerConfig(resync_ticks=self.config.resync_ticks)
        for key in sorted(watches):
            path = resource_named(watches[key].resource).path()
            self.informers[key] = Informer(self.connection, path, informer_config, query=watches[key].query())
        self._by_plural = self._cached_informers()
        self.cache = Cache({p: i.indexer for p, i in self._by_plural.items()},
                           lambda plural: plural in self._by_plural and self._by_plural[plural].has_synced)
        for controller in self.controllers:
            for watch in controller.reconciler.watches:
                self.informers[informer_key(watch)].add_handler(self._handler(controller, watch))
        for key in sorted(watches):
            self.informers[key].start(self.now)
        self._note(f"{self.id} starts its controllers: {', '.join(c.reconciler.name for c in self.controllers)}")

    def _cached_informers(self) -> dict[str, Informer]:
        """Plural -> the informer the cache reads: the unfiltered one, else the only one."""
        by_plural: dict[str, list[str]] = {}
        for key in sorted(self.informers):
            by_plural.setdefault(key.partition("?")[0], []).append(key)
        return {plural: self.informers[plural if plural in keys else keys[0]]
                for plural, keys in by_plural.items() if plural in keys or len(keys) == 1}

    def _lose_leadership(self) -> None:
        """kube-controller-manager exits on a lost lease; a supervisor starts it again."""
        self._note(f"{self.id} stopped leading: drops its caches, queues and reconciles in flight")
        for informer in self.informers.values():
            informer.stop()
        self.incarnation += 1
        self.connection = self._connect()
        self._reset_controllers()
        self.elector = self._elector()
        self._election_call = None

    # ----- events into queues ---------------------------------------------------------------

    def _handler(self, controller: _Controller, watch: Watch) -> Handler:
        def on_change(change: str, old: Any, new: Any) -> None:
            observe = getattr(controller.reconciler, "observe", None)
            if observe is not None:
                observe(watch.resource, change, old, new)
            for obj in (old, new):
                if obj is None:
                    continue
                if isinstance(obj, DeletedFinalStateUnknown):
                    obj = obj.object
                for request in self._requests_for(watch, obj):
                    controller.queue.add(request)

        return Handler(on_add=lambda obj: on_change("add", None, obj),
                       on_update=lambda old, new: on_change("update", old, new),
                       on_delete=lambda obj: on_change("delete", obj, None))

    def _requests_for(self, watch: Watch, obj: dict[str, Any]) -> list[Request]:
        if watch.enqueue is None:
            return []
        if watch.enqueue == SELF:
            return [request_for(obj)]
        if watch.enqueue == OWNER:
            return self._owner_request(watch, obj)
        return sorted(set(watch.enqueue(obj, self.cache)))

    def _owner_request(self, watch: Watch, obj: dict[str, Any]) -> list[Request]:
        """resolveControllerRef: the controller owner of the right kind, found by name in the
        cache and only if its UID is the one the reference names."""
        ref = controller_owner(obj)
        if ref is None or ref.get("kind") != watch.owner_kind:
            return []
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        owner_plural = next((resource_named(w.resource).plural for c in self.controllers for w in c.reconciler.watches
                             if resource_named(w.resource).kind == watch.owner_kind), None)
        if owner_plural is None or owner_plural not in self._by_plural:
            return [Request(namespace, ref.get("name", ""))]
        owner = self._by_plural[owner_plural].indexer.get_by_name(namespace, ref.get("name", ""))
        if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            return []
        return [Request(namespace, ref["name"])]

    # ----- the world's inputs ---------------------------------------------------------------

    def tick(self) -> Output:
        self._ticks += 1
        self.connection.tick(self.now)
        self._route()
        for plural in sorted(self.informers):
            self.informers[plural].tick(self.now)
        self._elect()
        self._work()
        return self._output()

    def step(self, src: str, message: Any) -> Output:
        self.connection.step(src, message)
        self._route()
        self._work()
        return self._output()

    def _output(self) -> Output:
        out = self.connection.output()
        out.notes.extend(self.notes)
        self.notes = []
        return out

    def _note(self, detail: str) -> None:
        self.notes.append(("reconcile", detail))

    def _route(self) -> None:
        for item in self.connection.drain():
            if any(informer.handle(item) for informer in self.informers.values()):
                continue
            if isinstance(item, ApiResponse):
                self._answer(item)

    def _answer(self, response: ApiResponse) -> None:
        if response.request_id == self._election_call:
            self._election_answer(response)
            return
        asked = self._calls.pop(response.request_id, None)
        if asked is None:
            return  # a call of a term this process has left behind
        controller, worker = asked
        worker.answers[worker.waiting_for.pop(response.request_id)] = Answer(response.code, response.body)
        if not worker.waiting_for:  # every call of the batch is answered
            answers = tuple(worker.answers)
            self._resume(controller, worker, answers if worker.batch else answers[0])

    # ----- leader election ------------------------------------------------------------------

    def _elect(self) -> None:
        if self.elector is None:
            return
        if self.running and not self.elector.is_leader(self.now):
            self._lose_leadership()
        if self._election_call is None:
            action = self.elector.tick(self.now)
            if action is not None:
                self._election_call = self._send_lease_action(action)
        if not self.running and self.elector.is_leader(self.now):
            self._note(f"{self.elector.identity} became leader")
            self._start_controllers()

    def _send_lease_action(self, action) -> int:
        leases = resource_named("leases")
        if action.verb == GET:
            return self.connection.send("GET", leases.path(action.namespace, action.name))
        if action.verb == CREATE:
            return self.connection.send("POST", leases.path(action.namespace), body=action.body)
        assert action.verb == UPDATE, action.verb
        return self.connection.send("PUT", leases.path(action.namespace, action.name), body=action.body)

    def _election_answer(self, response: ApiResponse) -> None:
        self._election_call = None
        action = self.elector.in_flight
        if action is None:
            return
        if action.verb == GET:
            if response.code == 200:
                self.elector.on_lease(response.body, self.now)
            elif response.code == 404:
                self.elector.on_lease(None, self.now)
            else:
                self.elector.on_write_result(UNKNOWN, self.now)
        elif 200 <= response.code < 300:
            self.elector.on_write_result(OK, self.now, response.body)
        else:
            self.elector.on_write_result(CONFLICT if response.code == 409 else UNKNOWN, self.now)
        follow_up = self.elector.tick(self.now)  # one try may take several requests
        if follow_up is not None:
            self._election_call = self._send_lease_action(follow_up)

    # ----- workers --------------------------------------------------------------------------

    def _work(self) -> None:
        if not self.running:
            return
        for controller in self.controllers:
            controller.queue.tick(self.now)
            if not len(controller.queue) or not self.caches_synced(controller):
                continue
            for worker in controller.workers:
                if worker.request is None:
                    self._take(controller, worker)

    def caches_synced(self, controller: _Controller) -> bool:
        """client-go's WaitForCacheSync: every informer the reconciler reads has listed."""
        return all(self.informers[key].has_synced for key in controller.resources)

    def _take(self, controller: _Controller, worker: Worker) -> None:
        request = controller.queue.get()
        if request is None:
            return
        worker.request, worker.writes = request, 0
        worker.run = controller.reconciler.reconcile(request, self.cache, self.client)
        self._note(f"{controller.reconciler.name} reconciles {request}")
        self._resume(controller, worker, None)

    def _resume(self, controller: _Controller, worker: Worker, answer: Answer | tuple[Answer, ...] | None) -> None:
        """Run the reconcile up to its next call or batch of calls (sent) or its end (the key
        is done)."""
        try:
            yielded = next(worker.run) if answer is None else worker.run.send(answer)
        except StopIteration as end:
            self._finish(controller, worker, end.value)
            return
        worker.batch = isinstance(yielded, (tuple, list))
        calls = tuple(yielded) if worker.batch else (yielded,)
        if not calls or not all(isinstance(call, Call) for call in calls):
            raise TypeError(f"{controller.reconciler.name}: a reconcile yields a Call (client.get(...), "
                            f"client.create(...)) or a non-empty tuple of them, not {yielded!r:.80}")
        worker.answers = [None] * len(calls)
        for place, call in enumerate(calls):
            self._send_call(controller, worker, call, place)

    def _send_call(self, controller: _Controller, worker: Worker, call: Call, place: int) -> None:
        worker.call = call
        if call.writes:
            worker.writes += 1
        request_id = self.connection.send(call.method, call.path, query=call.query, body=call.body,
                                          content_type=call.content_type, user_agent=user_agent(controller.reconciler))
        worker.waiting_for[request_id] = place
        self._calls[request_id] = (controller, worker)
        self._note(f"{controller.reconciler.name} {call.describe()}")

    def _finish(self, controller: _Controller, worker: Worker, result: Result | None) -> None:
        request, queue = worker.request, controller.queue
        worker.request = worker.run = worker.call = None
        worker.writes = 0
        result = result or Result()
        if result.requeue_after:
            queue.forget(request)
            queue.add_after(request, result.requeue_after, self.now)
        elif result.requeue:
            queue.add_rate_limited(request, self.now)
        else:
            queue.forget(request)
        queue.done(request)

    def relist(self) -> None:
        """Every informer lists again (their watches broke with 410 Gone)."""
        for key in sorted(self.informers):
            self.informers[key].relist()

    # ----- what the harness reads -------------------------------------------------------------

    def mid_reconcile_writers(self) -> list[Worker]:
        """Workers whose reconcile has written and waits for a later call: crashing now leaves
        the reconcile's intermediate state behind (Sieve)."""
        return [w for c in self.controllers for w in c.workers if w.request is not None and w.writes > 0]

    def acting_leader(self) -> bool:
        """Runs its controllers as leader of its Lease (always, without an election)."""
        return self.running and self.elector is not None

    def quiet(self) -> bool:
        """Nothing queued, waiting or in progress, and every informer synced."""
        return self.idle() and all(not c.queue.waiting() for c in self.controllers)

    def idle(self) -> bool:
        """Running, every informer synced, and nothing queued or in progress (a key waiting for a
        later tick, a periodic check, may be)."""
        if not self.running:
            return False
        return all(not c.queue.queued() and all(w.request is None for w in c.workers)
                   for c in self.controllers) and all(i.has_synced for i in self.informers.values())
