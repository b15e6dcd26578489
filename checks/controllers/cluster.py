"""The controllers harness: a whole small cluster in one simulated world, every component a client
of the API server instances through the simulated network, as in a real cluster.

The world (``ControllersOptions(members=1, apiservers=2, managers=2, nodes=3)``):

- store members ``n1..`` and API server instances ``a1..``, as the apiserver harness has them
  (``ControllersCluster`` *is* an ``ApiCluster``: every apiserver invariant judges all the
  traffic below, the controllers' included);
- ``u1``, the user's kubectl (an ``ApiClient``), writing through ``kubectl`` and ``apply``;
- ``cm1``, ``cm2``: kube-controller-manager instances (``ControllerHost``), candidates for the
  Lease ``kube-system/kube-controller-manager``; the leader runs every reconciler of
  kube-controller-manager that ``impl/controllers`` has: deployment, replicaset, namespace,
  serviceaccount, garbage collector, node lifecycle and taint eviction, job, endpoints and the
  PersistentVolume binder;
- ``sched``: kube-scheduler, elected on the Lease ``kube-system/kube-scheduler`` (one candidate);
- ``k1``, ``k2``, ...: one simulated kubelet (``KubeletHost``) per node ``node-1``, ``node-2``, ...

Every component writes as ``admin`` with the static token (``Bearer admin-token``) for now. Real
components have their own identities (``system:kube-controller-manager``, per-controller service
accounts, ``system:kube-scheduler``, ``system:node:NAME``) bound by the bootstrap RBAC roles and
limited by the Node authorizer: a later step.

Clocks: one tick is one second, and there is one clock, the world's. Every reconciler is built
with ``clock=`` reading the world's tick, and every host's own ``now`` is the world's tick too, so
a host started mid-run (the hosts start once the seed is in; ``world.restart`` rebuilds a crashed
one from its disk through ``_build``) never starts counting from 0.

The store starts with the apiserver seed plus the namespaces a kubeadm cluster has (``default``,
``kube-system``, ``kube-node-lease``, ``kube-public``), each with its ``default`` ServiceAccount,
written one object per revision like the rest of the seed. The pod ``runner`` of the apiserver
seed sits on ``node-1``: kubelet ``k1`` runs it once it registers.

``converged()`` is the desired state that Eventually Stable Reconciliation asks for
(spec/controllers/desired.py), explained as a list of sentences. The safety invariants are
judged at the end of every tick (checks/controllers/observe.py); the harness's commands are in
checks/controllers/commands.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import attrs

from checks.apiserver.cluster import ApiCluster
from checks.controllers.commands import ControllersCommands
from checks.controllers.fixpoint import converge
from checks.controllers.observe import SafetyObserver
from impl.apiserver.admission.default_toleration_seconds import UNREACHABLE_TAINT
from impl.apiserver.client import Credentials
from impl.apiserver.messages import ApiResponse
from impl.apiserver.objectmeta import new_uid, timestamp
from impl.apiserver.resources import resource_for_kind
from impl.controllers.host import ControllerHost, HostConfig
from impl.controllers.kubelet import KUBELET_HOST_CONFIG, KubeletConfig
from impl.controllers.leaderelection import ElectionConfig
from impl.controllers.parts import ControllersParts
from impl.sim.network import NetworkFaults
from spec.controllers.desired import desired_left, is_ready, leaks, tolerates
from spec.controllers.invariants import LEASE_FAULT_TICKS

__all__ = ["ControllersOptions", "ControllersCluster", "ADMIN", "KUBECTL", "SCHEDULER", "OPERATOR",
           "SYSTEM_NAMESPACES", "manager_reconcilers", "RUN_TICKS_MAX", "MERGE_PATCH", "MANAGER_LEASE",
           "SCHEDULER_LEASE", "STORE_WATCH_REVISIONS_PER_TICK"]

ADMIN = Credentials("admin", (("Authorization", "Bearer admin-token"),))  # seed.py's static token
KUBECTL = "u1"
SCHEDULER = "sched"
OPERATOR = "op1"  # the user's own controller, when the cluster runs one
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")
MANAGER_LEASE = "kube-controller-manager"
SCHEDULER_LEASE = "kube-scheduler"
MERGE_PATCH = "application/merge-patch+json"
RUN_TICKS_MAX = 600
# kube's 15 s lease, 10 s renew deadline and 2 s retry assume a renewal takes milliseconds. Here a
# tick is a second and a write through the simulated API server takes 4 to 14 ticks (a tick a
# hop, and admission's lookups in the store), so with 10 a leader whose renewals are slow loses
# its lease over and over in a healthy cluster. All three are doubled, to keep kube's margins.
ELECTION = ElectionConfig(lease_duration_ticks=30, renew_deadline_ticks=20, retry_period_ticks=4)
# Here a tick is a second. etcd sends a synced watcher each revision as it commits, and an
# unsynced one catches up in batches of up to 1,000 revisions (watchBatchMaxRevs) every 100 ms;
# the store member's default, one revision a tick, would leave every watch cache (hence every
# informer) behind a cluster whose kubelets alone commit several revisions a tick.
STORE_WATCH_REVISIONS_PER_TICK = 1_000
UNREACHABLE = {"key": UNREACHABLE_TAINT, "effect": "NoExecute"}  # a powered-off node's taint
KUBECTL_TICKS_MAX = 200  # an answer, or the client's own timeout (120 ticks), comes before this


@attrs.frozen
class ControllersOptions:
    members: int = 1
    apiservers: int = 2
    managers: int = 2
    nodes: int = 3
    seed: int = 0
    faults: NetworkFaults = NetworkFaults()
    controller: str = ""  # MODULE:CLASS of the user's own reconciler, run by host op1

    # What ApiCluster reads: one client (kubectl), no webhooks.
    clients = 1
    webhooks = False

    def line(self) -> str:
        words = [f"cluster members={self.members} apiservers={self.apiservers} managers={self.managers} "
                 f"nodes={self.nodes} seed={self.seed}"]
        if self.controller:
            words.append(f"controller={self.controller}")
        if self.faults != NetworkFaults():
            words.append(self.faults.describe())
        return " ".join(words)


def manager_reconcilers(clock: Callable[[], int]) -> tuple[Any, ...]:
    """kube-controller-manager's controllers that exist here, each on ``clock`` (the reference)."""
    return ControllersParts().manager_reconcilers(clock)


def _namespace(name: str, rng: random.Random) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": new_uid(rng), "creationTimestamp": timestamp(0), "generation": 1},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _default_account(namespace: str, rng: random.Random) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": namespace, "uid": new_uid(rng),
                         "creationTimestamp": timestamp(0), "generation": 1}}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


class ControllersCluster(ControllersCommands, ApiCluster):
    def __init__(self, options: ControllersOptions = ControllersOptions(),
                 parts: ControllersParts = ControllersParts(), operator: Callable[[], Any] | None = None) -> None:
        """``operator``: makes the user's reconciler (``options.controller`` names it), run by host op1."""
        self.manager_ids = tuple(f"cm{i}" for i in range(1, options.managers + 1))
        self.kubelet_ids = tuple(f"k{i}" for i in range(1, options.nodes + 1))
        self.node_names = {k: f"node-{i}" for i, k in enumerate(self.kubelet_ids, start=1)}
        self.operator = operator
        self.operator_ids = (OPERATOR,) if operator is not None else ()
        self.host_ids = self.manager_ids + (SCHEDULER,) + self.kubelet_ids + self.operator_ids
        self._hosts_started = False
        self.instance_of: dict[str, str] = {}  # host -> the instance it talks to first, when told
        self.scheduler_id = SCHEDULER
        self.removed: set[str] = set()  # kubelets whose node left for good
        self.lost: set[str] = set()  # kubelets and instances powered off for good (their Node objects stay)
        self.hidden: dict[str, int] = {}  # host -> the tick its watch events flow again
        self.lagging: set[str] = set()  # instances whose watch responses from the store are held back
        self.webhook_down_until = 0  # the tick the policy webhook answers again (webhook-outage)
        self.webhook_fail_percent = 100  # how many of its calls fail until then
        self._webhook_passed: set[tuple[str, int]] = set()  # (client, request id): drawn to go through
        self.link_faulted_at = -LEASE_FAULT_TICKS  # the last tick the API servers were hard to reach
        # Runs the given scenario lines as a new cluster (CTRL-LEVEL-TRIGGERED's twin); the
        # scenario module sets it, so that a cluster built elsewhere has none.
        self.twin: Callable[[list[str]], Any] | None = None
        self.judging_api = False
        # A plain function, not a bound method: hosts deep-copy their reconcilers, and a function
        # is copied as itself, so every copy reads this one world's tick.
        self.clock: Callable[[], int] = lambda: self.world.now
        super().__init__(options, parts)
        self.safety = SafetyObserver(self)
        self.request_timeout_ticks = HostConfig().connection.request_timeout_ticks
        self.world.tick_observers.append(self._after_tick)
        self._start_hosts()

    def _after_tick(self) -> None:
        """Every tick: the harness's perturbations, then the safety invariants."""
        self.each_tick()
        found = self.safety.after_tick() if self.violation is None else None
        if found is not None:
            self.fail(*found)

    def check(self) -> None:
        """The API server's invariants judge every request of the run; here they do so only in
        ``converge``, which ends every run (after every command, they cost more than the whole
        rest of a controllers run). The controllers' safety invariants are judged every tick."""
        if self.judging_api:
            super().check()

    def converge(self) -> None:
        """The fault-free phase that judges Eventually Stable Reconciliation (fixpoint.py)."""
        self._run("converge", lambda: converge(self, self.twin))

    # ----- the world's nodes -----------------------------------------------------------------

    def _extra_node_ids(self) -> tuple[str, ...]:
        return self.host_ids

    def _seed_objects(self, rng: random.Random) -> list[dict[str, Any]]:
        objects = super()._seed_objects(rng)
        objects += [_namespace(name, rng) for name in SYSTEM_NAMESPACES]
        objects += [_default_account(name, rng) for name in SYSTEM_NAMESPACES]
        return objects

    def _start_hosts(self) -> None:
        """The components start once the seed is in and the instances serve it."""
        self._hosts_started = True
        for node_id in self.host_ids:
            self.world.trace.record(self.world.now, "start", node_id, "process starts")
            self.world.nodes[node_id] = self._build(node_id, self.world.node_ids, self.world.disks[node_id],
                                                    self.world.rng)

    def _build(self, node_id: str, ids: tuple[str, ...], disk, rng):
        if node_id in self.member_ids:
            member = super()._build(node_id, ids, disk, rng)
            member.config = attrs.evolve(member.config, watch_batch_revisions=STORE_WATCH_REVISIONS_PER_TICK)
            return member
        if node_id not in self.host_ids:
            return super()._build(node_id, ids, disk, rng)
        if not self._hosts_started:
            return None  # not started yet: see _start_hosts
        instance = self.instance_of.get(node_id) or \
            self.instance_ids[self.host_ids.index(node_id) % len(self.instance_ids)]
        clock, parts = self.clock, self.parts
        if node_id in self.kubelet_ids:
            number = self.kubelet_ids.index(node_id) + 1
            return parts.kubelet_host(node_id, self.instance_ids, self.api_log, ADMIN,
                                      KubeletConfig.numbered(number, self.node_names[node_id]),
                                      attrs.evolve(KUBELET_HOST_CONFIG, instance=instance), disk=disk, clock=clock)
        if node_id == OPERATOR:
            config = HostConfig(instance=instance)
            return ControllerHost(node_id, self.instance_ids, self.api_log, ADMIN, (self.operator(),), config,
                                  disk=disk, clock=clock)
        if node_id == SCHEDULER:
            config = HostConfig(election=ELECTION, lease_name=SCHEDULER_LEASE, instance=instance)
            return parts.host(node_id, self.instance_ids, self.api_log, ADMIN, (parts.scheduler(),), config,
                              disk=disk, clock=clock)
        config = HostConfig(election=ELECTION, lease_name=MANAGER_LEASE, instance=instance)
        return parts.host(node_id, self.instance_ids, self.api_log, ADMIN, parts.manager_reconcilers(clock), config,
                          disk=disk, clock=clock)

    @property
    def ids(self) -> tuple[str, ...]:
        """Who a counterexample's diagram draws: kubectl, the instances and every component (the
        store's traffic with the instances is the apiserver area's to draw)."""
        return self.client_ids + self.instance_ids + self.host_ids

    def host(self, node_id: str) -> ControllerHost | None:
        return self.world.nodes[node_id]

    def roles(self) -> dict[str, str]:
        """Client id -> the component it is (what a sequence diagram groups by)."""
        roles = {KUBECTL: "kubectl", SCHEDULER: "scheduler"}
        roles.update({m: "controller-manager" for m in self.manager_ids})
        roles.update({k: "kubelet" for k in self.kubelet_ids})
        roles.update({o: "operator" for o in self.operator_ids})
        return roles

    def leader(self, lease: str = MANAGER_LEASE) -> str | None:
        """The host named by the holder of ``kube-system/<lease>`` in the store (None: no Lease
        yet). The holder of record: it may have crashed, until another candidate takes the Lease."""
        held = self.stored("leases").get(f"kube-system/{lease}")
        holder = ((held or {}).get("spec") or {}).get("holderIdentity") or ""
        return holder.split("_", 1)[0] or None

    # ----- running ---------------------------------------------------------------------------

    def run_until(self, done: Callable[[], Any], ticks_max: int = RUN_TICKS_MAX, what: str = "") -> int:
        """Tick until ``done()`` (bounded), then judge every apiserver invariant; the ticks it took."""
        for ticks in range(ticks_max + 1):
            if done():
                super().check()
                return ticks
            if ticks < ticks_max:
                self.world.tick()
        super().check()
        raise AssertionError(f"not {what or 'done'} after {ticks_max} ticks")

    def ready(self) -> bool:
        """Both elections won and every node registered and Ready."""
        nodes = self.stored("minions")
        return self.leader() is not None and self.leader(SCHEDULER_LEASE) is not None \
            and all(is_ready(nodes.get(name, {})) for name in self.node_names.values())

    def run_until_ready(self, ticks_max: int = RUN_TICKS_MAX) -> int:
        """Tick until ``ready()``; the ticks it took."""
        return self.run_until(self.ready, ticks_max, "ready")

    def run_until_answered(self, ticks_max: int = KUBECTL_TICKS_MAX) -> int:
        """Tick until every request in flight now has its answer (fails if one is given up on:
        a request that timed out is never answered)."""
        waiting = [call for call in self.api_log.calls if call.response is None]
        return self.run_until(lambda: all(call.response is not None for call in waiting), ticks_max, "answered")

    def run_until_converged(self, ticks_max: int = RUN_TICKS_MAX) -> int:
        """Tick until ``converged()`` finds nothing left; the ticks it took. The error names what
        was still not converged."""
        left: list[str] = []

        def done() -> bool:
            left[:] = self.converged()
            return not left
        try:
            return self.run_until(done, ticks_max, "converged")
        except AssertionError:
            raise AssertionError(f"not converged after {ticks_max} ticks: " + "; ".join(left)) from None

    # ----- the user's requests ---------------------------------------------------------------

    def kubectl(self, method: str, path: str, body: Any = None, content_type: str = "") -> ApiResponse:
        """A request as admin from kubectl (u1), ticking until it is answered; its response. Part
        of the command that calls it: it records no scenario line of its own."""
        client = self.client(KUBECTL)
        assert client.idle, "kubectl waits for each answer"
        data = json.dumps(body).encode() if body is not None else b""
        self.world.trace.record(self.world.now, "invoke", KUBECTL, f"as admin: {method} {path}")
        self.world.apply(KUBECTL, client.send(method, path, self.credentials["admin"], body=data,
                                              content_type=content_type))
        for _ in range(KUBECTL_TICKS_MAX):
            if client.idle:
                break
            self.world.tick()
        call = next(c for c in reversed(self.api_log.calls) if c.client == KUBECTL)
        return call.response if call.response is not None else ApiResponse(call.request.request_id, 0)

    def apply(self, manifest: dict[str, Any]) -> ApiResponse:
        """Create ``manifest``, or merge-patch it onto the object of its name if the store has one
        (a client-side apply without the last-applied annotation); a namespaced object without a
        namespace goes to ``default``."""
        resource = resource_for_kind(manifest["apiVersion"], manifest["kind"])
        name = _meta(manifest)["name"]
        namespace = (_meta(manifest).get("namespace") or "default") if resource.namespaced else ""
        key = f"{namespace}/{name}" if namespace else name
        if key in self.stored(resource.storage_resource):
            return self.kubectl("PATCH", resource.path(namespace, name), manifest, MERGE_PATCH)
        return self.kubectl("POST", resource.path(namespace), manifest)

    # ----- what the store holds --------------------------------------------------------------

    def stored(self, storage_resource: str) -> dict[str, dict[str, Any]]:
        """What the store holds now for ``storage_resource`` (``pods``, ``deployments``,
        ``minions`` for nodes, ...), as namespace/name (or name) -> object."""
        prefix = f"/registry/{storage_resource}/"
        return {key[len(prefix):]: obj for key, obj in sorted(self.observer.objects.items())
                if key.startswith(prefix)}

    def by_resource(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What the store holds now, as storage resource -> key -> object."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for key, obj in sorted(self.observer.objects.items()):
            storage, _, rest = key[len("/registry/"):].partition("/")
            found.setdefault(storage, {})[rest] = obj
        return found

    def converged(self) -> list[str]:
        """What is not yet as desired, and what leaked (empty: converged); the rules are
        spec/controllers/desired.py's."""
        objects = self.by_resource()
        return desired_left(objects) + leaks(objects) + self.lost_left(objects)

    def lost_left(self, objects: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
        """What the controllers have yet to find out about the machines powered off: the node
        is not Ready, and its pods that do not tolerate that for ever are evicted (the spec
        cannot say this from the objects alone: a node whose kubelet is gone still reads Ready
        until its lease runs out)."""
        left = []
        nodes = objects.get("minions", {})
        for kubelet in sorted(self.lost & set(self.kubelet_ids)):
            name = self.node_names[kubelet]
            node = nodes.get(name)
            if node is not None and is_ready(node):
                left.append(f"node {name}: powered off, but still Ready")
            for key, pod in objects.get("pods", {}).items():
                if (pod.get("spec") or {}).get("nodeName") == name and not (pod.get("metadata") or {}).get(
                        "deletionTimestamp") and not tolerates(pod, UNREACHABLE):
                    left.append(f"pod {key}: on node {name}, which is powered off, and not evicted")
        return left


