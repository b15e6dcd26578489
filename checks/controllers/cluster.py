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

``converged()`` is a first version of the desired state that Eventually Stable Reconciliation
asks for; it explains what is not converged yet as a list of sentences.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

from checks.apiserver.cluster import ApiCluster, ApiParts
from impl.apiserver.client import Credentials
from impl.apiserver.messages import ApiResponse
from impl.apiserver.objectmeta import new_uid, timestamp
from impl.apiserver.resources import resource_for_kind
from impl.controllers.api import controller_owner
from impl.controllers.deployment import DeploymentController
from impl.controllers.endpoints import EndpointsController
from impl.controllers.garbagecollector import GarbageCollector
from impl.controllers.host import ControllerHost, HostConfig
from impl.controllers.job import JobController
from impl.controllers.kubelet import KUBELET_HOST_CONFIG, KubeletConfig, KubeletHost
from impl.controllers.leaderelection import ElectionConfig
from impl.controllers.namespace import NamespaceController
from impl.controllers.nodelifecycle import NodeLifecycle, TaintEviction
from impl.controllers.podtemplate import pod_is_active
from impl.controllers.pvbinder import VolumeBinder
from impl.controllers.replicaset import ReplicaSetController
from impl.controllers.scheduler import Scheduler
from impl.controllers.serviceaccount import ServiceAccountController
from impl.sim.network import NetworkFaults

__all__ = ["ControllersOptions", "ControllersCluster", "ADMIN", "KUBECTL", "SCHEDULER", "SYSTEM_NAMESPACES",
           "manager_reconcilers", "RUN_TICKS_MAX", "MERGE_PATCH"]

ADMIN = Credentials("admin", (("Authorization", "Bearer admin-token"),))  # seed.py's static token
KUBECTL = "u1"
SCHEDULER = "sched"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")
MANAGER_LEASE = "kube-controller-manager"
SCHEDULER_LEASE = "kube-scheduler"
MERGE_PATCH = "application/merge-patch+json"
RUN_TICKS_MAX = 600
KUBECTL_TICKS_MAX = 200  # an answer, or the client's own timeout (120 ticks), comes before this


@attrs.frozen
class ControllersOptions:
    members: int = 1
    apiservers: int = 2
    managers: int = 2
    nodes: int = 3
    seed: int = 0
    faults: NetworkFaults = NetworkFaults()

    # What ApiCluster reads: one client (kubectl), no webhooks.
    clients = 1
    webhooks = False

    def line(self) -> str:
        words = [f"cluster members={self.members} apiservers={self.apiservers} managers={self.managers} "
                 f"nodes={self.nodes} seed={self.seed}"]
        if self.faults != NetworkFaults():
            words.append(self.faults.describe())
        return " ".join(words)


def manager_reconcilers(clock: Callable[[], int]) -> tuple[Any, ...]:
    """kube-controller-manager's controllers that exist here, each on ``clock``."""
    return (DeploymentController(clock=clock), ReplicaSetController(clock=clock), NamespaceController(),
            ServiceAccountController(), GarbageCollector(), NodeLifecycle(clock), TaintEviction(clock),
            JobController(clock), EndpointsController(), VolumeBinder())


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


def _key(obj: dict[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get("name", "")


class ControllersCluster(ApiCluster):
    def __init__(self, options: ControllersOptions = ControllersOptions(), parts: ApiParts = ApiParts()) -> None:
        self.manager_ids = tuple(f"cm{i}" for i in range(1, options.managers + 1))
        self.kubelet_ids = tuple(f"k{i}" for i in range(1, options.nodes + 1))
        self.node_names = {k: f"node-{i}" for i, k in enumerate(self.kubelet_ids, start=1)}
        self.host_ids = self.manager_ids + (SCHEDULER,) + self.kubelet_ids
        self._hosts_started = False
        # A plain function, not a bound method: hosts deep-copy their reconcilers, and a function
        # is copied as itself, so every copy reads this one world's tick.
        self.clock: Callable[[], int] = lambda: self.world.now
        super().__init__(options, parts)
        self._start_hosts()

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
        if node_id not in self.host_ids:
            return super()._build(node_id, ids, disk, rng)
        if not self._hosts_started:
            return None  # not started yet: see _start_hosts
        instance = self.instance_ids[self.host_ids.index(node_id) % len(self.instance_ids)]
        clock = self.clock
        if node_id in self.kubelet_ids:
            number = self.kubelet_ids.index(node_id) + 1
            return KubeletHost(node_id, self.instance_ids, self.api_log, ADMIN,
                               KubeletConfig.numbered(number, self.node_names[node_id]),
                               attrs.evolve(KUBELET_HOST_CONFIG, instance=instance), disk=disk, clock=clock)
        if node_id == SCHEDULER:
            config = HostConfig(election=ElectionConfig(), lease_name=SCHEDULER_LEASE, instance=instance)
            return ControllerHost(node_id, self.instance_ids, self.api_log, ADMIN, (Scheduler(),), config,
                               disk=disk, clock=clock)
        config = HostConfig(election=ElectionConfig(), lease_name=MANAGER_LEASE, instance=instance)
        return ControllerHost(node_id, self.instance_ids, self.api_log, ADMIN, manager_reconcilers(clock), config,
                           disk=disk, clock=clock)

    def host(self, node_id: str) -> ControllerHost | None:
        return self.world.nodes[node_id]

    def roles(self) -> dict[str, str]:
        """Client id -> the component it is (what a sequence diagram groups by)."""
        roles = {KUBECTL: "kubectl", SCHEDULER: "scheduler"}
        roles.update({m: "controller-manager" for m in self.manager_ids})
        roles.update({k: "kubelet" for k in self.kubelet_ids})
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
                self.check()
                return ticks
            if ticks < ticks_max:
                self.world.tick()
        self.check()
        raise AssertionError(f"not {what or 'done'} after {ticks_max} ticks")

    def ready(self) -> bool:
        """Both elections won and every node registered and Ready."""
        nodes = self.stored("minions")
        return self.leader() is not None and self.leader(SCHEDULER_LEASE) is not None \
            and all(_ready(nodes.get(name, {})) for name in self.node_names.values())

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
        """A request as admin from kubectl (u1), ticking until it is answered; its response."""
        self.request(f"as admin by {KUBECTL} {method} {path}", KUBECTL, "admin", method, path, body=body,
                     content_type=content_type)
        self.run_until(lambda: self.client(KUBECTL).idle, KUBECTL_TICKS_MAX, "answered")
        call = next(c for c in reversed(self.api_log.calls) if c.client == KUBECTL)
        assert call.response is not None
        return call.response

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

    def converged(self) -> list[str]:
        """What is not yet as desired (empty: converged). The rules, a first version:

        - every Deployment has ``status.observedGeneration >= metadata.generation`` and
          ``updatedReplicas == availableReplicas == replicas == spec.replicas``, with exactly one
          of its ReplicaSets scaled up (``spec.replicas > 0``);
        - every ReplicaSet has ``status.replicas == spec.replicas ==`` the number of its active
          pods (controlled by its UID, neither finished nor being deleted);
        - every active pod of a live ReplicaSet is bound, Running and Ready;
        - no Namespace is being deleted;
        - no object has owner references that all name UIDs missing from the store.
        """
        uids = {_meta(obj).get("uid") for obj in self.observer.objects.values()}
        pods = self.stored("pods")
        replica_sets = self.stored("replicasets")
        left = []
        for key, deployment in self.stored("deployments").items():
            left += self.deployment_left(key, deployment, replica_sets.values())
        for key, replica_set in replica_sets.items():
            left += self.replica_set_left(key, replica_set, pods.values())
        for key, namespace in self.stored("namespaces").items():
            if _meta(namespace).get("deletionTimestamp"):
                left.append(f"namespace {key} is being deleted")
        for key, obj in sorted(self.observer.objects.items()):
            refs = _meta(obj).get("ownerReferences") or []
            if refs and all(ref.get("uid") not in uids for ref in refs):
                left.append(f"{key} has owners that are all gone: {', '.join(r.get('name', '') for r in refs)}")
        return left

    @staticmethod
    def deployment_left(key: str, deployment: dict[str, Any], replica_sets) -> list[str]:
        spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
        want = spec.get("replicas", 1)
        left = []
        if status.get("observedGeneration", 0) < _meta(deployment).get("generation", 0):
            left.append(f"deployment {key}: generation {_meta(deployment).get('generation')} not observed yet")
        counts = {f: status.get(f, 0) for f in ("replicas", "updatedReplicas", "availableReplicas")}
        if any(count != want for count in counts.values()):
            shown = ", ".join(f"{f} {c}" for f, c in counts.items())
            left.append(f"deployment {key}: wants {want} replicas, status says {shown}")
        uid = _meta(deployment).get("uid")
        scaled_up = [rs for rs in replica_sets if _controlled_by(rs, uid) and (rs.get("spec") or {}).get("replicas", 1)]
        if len(scaled_up) != 1:
            left.append(f"deployment {key}: {len(scaled_up)} ReplicaSets scaled up, not 1")
        return left

    @staticmethod
    def replica_set_left(key: str, replica_set: dict[str, Any], pods) -> list[str]:
        want = (replica_set.get("spec") or {}).get("replicas", 1)
        reported = (replica_set.get("status") or {}).get("replicas", 0)
        uid = _meta(replica_set).get("uid")
        active = [p for p in pods if _controlled_by(p, uid) and pod_is_active(p)]
        left = []
        if not reported == want == len(active):
            left.append(f"replicaset {key}: wants {want} replicas, status says {reported}, "
                        f"{len(active)} active pods")
        if _meta(replica_set).get("deletionTimestamp"):
            return left
        for pod in active:
            if not (pod.get("spec") or {}).get("nodeName"):
                left.append(f"pod {_key(pod)} of replicaset {key} is not bound")
            elif (pod.get("status") or {}).get("phase") != "Running" or not _ready(pod):
                left.append(f"pod {_key(pod)} of replicaset {key} is not Running and Ready")
        return left


def _ready(obj: dict[str, Any]) -> bool:
    """A Node's (or a pod's) Ready condition is True."""
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _controlled_by(obj: dict[str, Any], uid: str | None) -> bool:
    ref = controller_owner(obj)
    return ref is not None and ref.get("uid") == uid
