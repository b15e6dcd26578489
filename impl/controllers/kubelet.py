"""A simulated kubelet: registers its Node, heartbeats through a Lease, runs the pods bound to it.

Sources: k8s.io/kubernetes ``pkg/kubelet`` (``kubelet_node_status.go``: ``registerWithAPIServer``,
``initialNode``, ``syncNodeStatus``, ``nodeStatusUpdateFrequency`` and
``nodeStatusReportFrequency``; ``nodestatus/setters.go``: the Ready and pressure conditions;
``status/status_manager.go``: status patches and ``canBeDeleted``'s final delete with grace period
0 and a uid precondition; ``kubelet_pods.go``: ``getPhase`` and terminal phases on deletion;
``kuberuntime``: container restart back-off), ``pkg/kubelet/nodelease`` and
``component-helpers/apimachinery/lease`` (the NodeLease controller), and the docs "Nodes: node
heartbeats" and "Pod lifecycle". The rules kept:

- Registration: the kubelet creates its Node once per process start (AlreadyExists counts as
  registered) with labels ``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``,
  ``spec.podCIDR``, and a status of capacity, allocatable, addresses, nodeInfo and the conditions
  MemoryPressure, DiskPressure, PIDPressure (False) and Ready (True, KubeletReady), each with
  ``lastHeartbeatTime``. Failed registrations are retried.
- NodeLease heartbeat: a Lease named after the node in ``kube-node-lease``, holder the node,
  ``leaseDurationSeconds`` 40, ``renewTime`` moved every 10 s (a quarter of the duration), owned by
  the Node (by UID) once the Node is known. The kubelet renews from the Lease it last wrote; after
  a failure it reads it again (creating it if missing) and retries the next tick.
- Node status: checked every 10 s (``nodeStatusUpdateFrequency``), written (a strategic-merge
  patch of nodes/status) when a condition's status changed or 5 min (``nodeStatusReportFrequency``)
  passed since the last report; the first check after start always reports. ``runtime_ready``
  is the simulated container runtime's health: False makes Ready False (KubeletNotReady).
- The kubelet is three reconcilers in one ``KubeletHost``, as it is three loops in one process:
  ``NodeStatus`` and ``NodeLease`` each reconcile the node's key (``Request("", NODE)``) and end
  with ``requeue_after`` until their next turn, and ``PodWorkers`` reconciles pods. Each has its
  own queue and workers, so the heartbeat never waits behind pods. ``KubeletHost`` queues the
  node's key when the process starts; the Node's own events (a field-selected informer,
  ``metadata.name=NODE``) queue it too.
- Pods: the pod informer selects ``spec.nodeName=NODE``, as the kubelet's does. A pod seen for
  the first time gets a sandbox (a pod IP from the node's /24, the lowest free, keeping one the
  pod's status already names) and status Pending with its containers waiting in
  ContainerCreating; ``startup_ticks`` later (default 2) its containers run and the pod is
  Running with PodScheduled, Initialized, ContainersReady and Ready True. Status goes up as a
  strategic-merge patch of pods/status (conditions merge by type), only when it differs from the
  cached one. Terminal pods are never changed.
- A container may finish: annotation ``kinv.dev/exit-after: "N"`` makes every container of the
  pod exit N ticks after it starts running, with the code in ``kinv.dev/exit-code`` (default
  "0"); a value that is not a whole number >= 0 is ignored. ``restartPolicy`` decides what
  follows: Never: the pod ends, Succeeded for code 0 and Failed otherwise; OnFailure: the same
  for code 0, a restart otherwise; Always: a restart. A restart waits in CrashLoopBackOff,
  none the first time, then 10 s doubling to 300 s (``MaxContainerBackOff``), and counts in
  ``restartCount``; the pod stays Running, not Ready, while it waits.
- Graceful deletion: a pod with a ``deletionTimestamp`` is stopped at once (a simulated process
  exits on SIGTERM with 143; a container that never started is ContainerStatusUnknown, 137), its
  terminal status written (Failed, or Succeeded if every exit code was 0: kube 1.27's terminal
  phase on deletion), then deleted with ``gracePeriodSeconds: 0`` and a uid precondition, so
  that a re-created pod of the same name is never the one deleted.

Every time is a tick of the kubelet's own clock (``clock``, the host's ``now``); one tick is one
second. Left out: the kubelet's admission of pods against its own resources, init containers
(done at once), probes, volumes, images, eviction, static pods, node status beyond the
conditions, and the kubelet's credentials (it writes as the host's identity, not
``system:node:NAME`` under the Node authorizer). The simulated runtime lives in the process's
memory: a restarted kubelet starts the pods it finds again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.client import ApiLog, ClientConfig, Credentials
from impl.apiserver.decimal_text import decimal_or_zero
from impl.apiserver.objectmeta import timestamp
from impl.controllers.api import Cache, Client, Reconcile, Request, Result, Watch
from impl.controllers.api import meta as _meta
from impl.controllers.host import ControllerHost, HostConfig
from impl.controllers.leaderelection import LEASE_API_VERSION, micro_timestamp
from impl.sim.disk import Disk

__all__ = ["NodeStatus", "NodeLease", "PodWorkers", "KubeletConfig", "KubeletHost", "KUBELET_HOST_CONFIG",
           "ContainerRun", "run_at", "stopped", "status_patch", "EXIT_AFTER_ANNOTATION", "EXIT_CODE_ANNOTATION", "NODE_LEASE_NAMESPACE"]

EXIT_AFTER_ANNOTATION = "kinv.dev/exit-after"
EXIT_CODE_ANNOTATION = "kinv.dev/exit-code"
NODE_LEASE_NAMESPACE = "kube-node-lease"
SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM: a process that does not handle the signal
UNKNOWN_EXIT_CODE = 137  # ContainerStatusUnknown: never ran, or lost
BACKOFF_INITIAL_TICKS = 10  # the container restart back-off
BACKOFF_MAX_TICKS = 300  # MaxContainerBackOff, 5 min
RETRY_TICKS = 1  # after a failed registration or heartbeat (kube: 200 ms doubling to 7 s)
RUN_CYCLES_MAX = 100_000  # a bound on the restarts simulated (the back-off keeps them few)
HOST_NUMBERS = range(2, 255)  # pod IPs in the node's /24: .1 is the gateway
# Workers per loop (the real kubelet has a goroutine per pod); requests time out after 10 s, the
# kubelet's heartbeat client timeout (min of nodeStatusUpdateFrequency and the lease duration).
KUBELET_HOST_CONFIG = HostConfig(workers=8, connection=ClientConfig(request_timeout_ticks=10))


@attrs.frozen
class KubeletConfig:
    node_name: str
    capacity: tuple[tuple[str, str], ...] = (("cpu", "4"), ("memory", "8Gi"), ("pods", "110"))
    allocatable: tuple[tuple[str, str], ...] = ()  # empty: the capacity
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect): registerWithTaints
    pod_cidr: str = "10.244.0.0/24"
    internal_ip: str = "192.168.0.10"
    startup_ticks: int = 2
    lease_duration_seconds: int = 40
    lease_renew_ticks: int = 10  # a quarter of the lease duration
    status_update_ticks: int = 10  # nodeStatusUpdateFrequency
    status_report_ticks: int = 300  # nodeStatusReportFrequency

    @classmethod
    def numbered(cls, number: int, node_name: str, **more: Any) -> KubeletConfig:
        """A node with its own pod range (10.244.NUMBER.0/24) and address (192.168.0.NUMBER)."""
        return cls(node_name, pod_cidr=f"10.244.{number}.0/24", internal_ip=f"192.168.0.{number}", **more)

    @property
    def allocatable_map(self) -> dict[str, str]:
        return dict(self.allocatable or self.capacity)

    @property
    def pod_network(self) -> str:
        """The first three octets of the /24."""
        return self.pod_cidr.split("/")[0].rsplit(".", 1)[0]


# ----- the simulated container runtime ------------------------------------------------------------

@attrs.frozen
class ContainerRun:
    """What a pod's containers are doing at one tick."""

    state: str  # "waiting", "running" or "terminated"
    reason: str = ""  # ContainerCreating, CrashLoopBackOff, Completed, Error, ContainerStatusUnknown
    restarts: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    exit_code: int | None = None
    last: ContainerRun | None = None  # the previous run's end (lastState)
    next_change: int | None = None  # the tick this changes by itself; None: never


def _terminated(code: int, started_at: int | None, finished_at: int, restarts: int) -> ContainerRun:
    return ContainerRun("terminated", "Completed" if code == 0 else "Error", restarts, started_at, finished_at, code)


def restarts_after_exit(restart_policy: str, exit_code: int) -> bool:
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


def restart_delay_ticks(restarts: int) -> int:
    """None before the first restart, then 10 s doubling to 5 min."""
    return 0 if restarts == 0 else min(BACKOFF_INITIAL_TICKS * 2 ** (restarts - 1), BACKOFF_MAX_TICKS)


def run_at(start: int, exit_after: int | None, exit_code: int, restart_policy: str, now: int) -> ContainerRun:
    """The containers' state at ``now`` when they first run at ``start``: a pure function of time."""
    if now < start:
        return ContainerRun("waiting", "ContainerCreating", next_change=start)
    if exit_after is None:
        return ContainerRun("running", restarts=0, started_at=start)
    cycle_start, restarts, last = start, 0, None
    for _ in range(RUN_CYCLES_MAX):
        exit_at = cycle_start + exit_after
        if now < exit_at:
            return ContainerRun("running", restarts=restarts, started_at=cycle_start, last=last, next_change=exit_at)
        ended = _terminated(exit_code, cycle_start, exit_at, restarts)
        if not restarts_after_exit(restart_policy, exit_code):
            return ended
        restart_at = exit_at + restart_delay_ticks(restarts)
        if now < restart_at:
            return ContainerRun("waiting", "CrashLoopBackOff", restarts, last=ended, next_change=restart_at)
        cycle_start, restarts, last = restart_at, restarts + 1, ended
    raise AssertionError(f"more than {RUN_CYCLES_MAX} container runs simulated")


def stopped(run: ContainerRun, stopped_at: int) -> ContainerRun:
    """The run killed at ``stopped_at`` (``run`` is its state then)."""
    if run.state == "terminated":
        return run
    if run.state == "running":
        return ContainerRun("terminated", "Error", run.restarts, run.started_at, stopped_at, SIGTERM_EXIT_CODE)
    if run.last is not None:  # waiting to restart: the last run's end stays the end
        return attrs.evolve(run.last, restarts=run.restarts)
    return ContainerRun("terminated", "ContainerStatusUnknown", run.restarts, None, stopped_at, UNKNOWN_EXIT_CODE)


@attrs.define
class _Sandbox:
    """A pod the runtime holds: where it lives and when things happened to it."""

    uid: str
    ip: str
    created_at: int
    running_at: int
    stopped_at: int | None = None
    written: dict[str, Any] | None = None  # the pod as the last status write returned it


def _whole_number(text: Any) -> int | None:
    return int(text) if isinstance(text, str) and text.isascii() and text.isdigit() else None


TERMINAL_PHASES = ("Succeeded", "Failed")


def _node_watch(node: str, enqueue: Any) -> Watch:
    return Watch("nodes", enqueue=enqueue, field_selector=f"metadata.name={node}")


class NodeStatus:
    """The kubelet's node status loop: registration, then the status every 10 s."""

    name = "kubelet-node-status"

    def __init__(self, config: KubeletConfig, clock: Callable[[], int]) -> None:
        self.config = config
        self.clock = clock
        self.node_request = Request("", config.node_name)
        self.watches = (_node_watch(config.node_name, lambda obj, cache: [self.node_request]),)
        self.runtime_ready = True
        self.registered = False
        self.next_status_tick = 0
        self.last_report_tick: int | None = None
        self.ready_since = 0  # the tick Ready last changed (lastTransitionTime)

    def set_runtime_ready(self, ready: bool) -> None:
        """The simulated container runtime goes down or comes back (the world's fault)."""
        if ready != self.runtime_ready:
            self.runtime_ready = ready
            self.ready_since = self.clock()

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Reconcile:
        now = self.clock()
        if not self.registered:
            answer = yield client.create("nodes", self.initial_node(now))
            if not (answer.ok or answer.already_exists):
                return Result(requeue_after=RETRY_TICKS)
            self.registered, self.ready_since = True, now
        node = cache.get("nodes", "", self.config.node_name)
        if node is None:
            return Result()  # not cached yet: its event queues the key again
        if now >= self.next_status_tick:
            if self.status_report_due(node, now):
                answer = yield client.patch("nodes", "", self.config.node_name,
                                            {"status": self.node_status(now)}, "strategic", subresource="status")
                if answer.ok:
                    self.last_report_tick = now
            self.next_status_tick = now + self.config.status_update_ticks
        return Result(requeue_after=max(1, self.next_status_tick - self.clock()))

    def initial_node(self, now: int) -> dict[str, Any]:
        config = self.config
        labels = {"kubernetes.io/hostname": config.node_name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", **dict(config.labels)}
        spec: dict[str, Any] = {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]}
        if config.taints:
            spec["taints"] = [{"key": k, "value": v, "effect": e} for k, v, e in config.taints]
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": config.node_name, "labels": labels},
                "spec": spec, "status": self.node_status(now)}

    def node_conditions(self, now: int) -> list[dict[str, Any]]:
        def condition(kind: str, status: str, reason: str, message: str, since: int) -> dict[str, Any]:
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": timestamp(now), "lastTransitionTime": timestamp(since)}
        pressures = [condition(kind, "False", f"KubeletHas{word}", f"kubelet has {text}", 0)
                     for kind, word, text in (("MemoryPressure", "SufficientMemory", "sufficient memory available"),
                                              ("DiskPressure", "NoDiskPressure", "no disk pressure"),
                                              ("PIDPressure", "SufficientPID", "sufficient PID available"))]
        if self.runtime_ready:
            ready = condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", self.ready_since)
        else:
            ready = condition("Ready", "False", "KubeletNotReady", "container runtime is down", self.ready_since)
        return [*pressures, ready]

    def node_status(self, now: int) -> dict[str, Any]:
        config = self.config
        return {"capacity": dict(config.capacity), "allocatable": config.allocatable_map,
                "conditions": self.node_conditions(now),
                "addresses": [{"type": "InternalIP", "address": config.internal_ip},
                              {"type": "Hostname", "address": config.node_name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"machineID": config.node_name, "systemUUID": config.node_name, "bootID": config.node_name,
                             "kernelVersion": "6.1.0-kinv", "osImage": "kinv simulated node",
                             "containerRuntimeVersion": "kinv://1.0", "kubeletVersion": "v1.30.0-kinv",
                             "kubeProxyVersion": "v1.30.0-kinv", "operatingSystem": "linux", "architecture": "amd64"}}

    def status_report_due(self, node: dict[str, Any], now: int) -> bool:
        """A condition changed, or the report frequency passed, or nothing reported yet."""
        if self.last_report_tick is None or now - self.last_report_tick >= self.config.status_report_ticks:
            return True
        reported = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or ()}
        return any(reported.get(c["type"]) != c["status"] for c in self.node_conditions(now))

class NodeLease:
    """The kubelet's NodeLease controller: renews the node's Lease every 10 s."""

    name = "kubelet-node-lease"

    def __init__(self, config: KubeletConfig, clock: Callable[[], int]) -> None:
        self.config = config
        self.clock = clock
        self.node_request = Request("", config.node_name)
        self.watches = (_node_watch(config.node_name, None),)  # the Node's uid, for the owner reference
        self.lease: dict[str, Any] | None = None  # the Lease last read or written
        self.next_renew_tick = 0

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Reconcile:
        if self.clock() >= self.next_renew_tick:
            renewed_at = yield from self.renew_lease(cache, client)
            self.next_renew_tick = (self.clock() + RETRY_TICKS if renewed_at is None
                                    else renewed_at + self.config.lease_renew_ticks)
        return Result(requeue_after=max(1, self.next_renew_tick - self.clock()))

    def renew_lease(self, cache: Cache, client: Client) -> Reconcile:
        """One heartbeat: the renewTime written, or None when it failed."""
        if self.lease is None:
            answer = yield client.get("leases", NODE_LEASE_NAMESPACE, self.config.node_name)
            if answer.not_found:
                now = self.clock()
                created = yield client.create("leases", self.new_lease(cache, now))
                self.lease = created.object
                return now if created.ok else None
            if not answer.ok:
                return None
            self.lease = answer.object
        now = self.clock()  # renewTime is when the write leaves, as the lease controller's clock.Now()
        answer = yield client.update("leases", self.renewed_lease(self.lease, cache, now))
        self.lease = answer.object  # None after a failure: read it again next time
        return now if answer.ok else None

    def new_lease(self, cache: Cache, now: int) -> dict[str, Any]:
        lease = {"apiVersion": LEASE_API_VERSION, "kind": "Lease",
                 "metadata": {"name": self.config.node_name, "namespace": NODE_LEASE_NAMESPACE}, "spec": {}}
        return self.renewed_lease(lease, cache, now)

    def renewed_lease(self, lease: dict[str, Any], cache: Cache, now: int) -> dict[str, Any]:
        lease = {**lease, "metadata": dict(_meta(lease)), "spec": dict(lease.get("spec") or {})}
        lease["spec"].update(holderIdentity=self.config.node_name,
                             leaseDurationSeconds=self.config.lease_duration_seconds, renewTime=micro_timestamp(now))
        node = cache.get("nodes", "", self.config.node_name)
        if node is not None and not lease["metadata"].get("ownerReferences"):
            lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.config.node_name,
                                                     "uid": _meta(node).get("uid", "")}]
        return lease


class PodWorkers:
    """The kubelet's pod workers and status manager over a simulated container runtime."""

    name = "kubelet-pods"

    def __init__(self, config: KubeletConfig, clock: Callable[[], int]) -> None:
        self.config = config
        self.clock = clock
        self.watches = (Watch("pods", field_selector=f"spec.nodeName={config.node_name}"),)
        self.sandboxes: dict[Request, _Sandbox] = {}

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Reconcile:
        pod = cache.get("pods", request.namespace, request.name)
        sandbox = self.sandboxes.get(request)
        if sandbox is not None and (pod is None or _meta(pod).get("uid") != sandbox.uid):
            del self.sandboxes[request]  # gone, or another pod of that name: its sandbox is gone too
            sandbox = None
        if pod is None or (pod.get("spec") or {}).get("nodeName") != self.config.node_name:
            return Result()
        if sandbox is not None:
            pod = self.newest(pod, sandbox.written)
        now = self.clock()
        if _meta(pod).get("deletionTimestamp"):
            return (yield from self.terminate(pod, sandbox, client, now))
        if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            return Result()  # a finished pod never runs again
        if sandbox is None:
            sandbox = self.create_sandbox(request, pod, now)
            if sandbox is None:
                return Result(requeue_after=self.config.status_update_ticks)  # no address free
        run = self.container_run(pod, sandbox, now)
        if not (yield from self.write_status(pod, sandbox, run, client)):
            return Result(requeue=True)
        if run.next_change is None:
            return Result()
        return Result(requeue_after=max(1, run.next_change - self.clock()))

    @staticmethod
    def newest(cached: dict[str, Any], written: dict[str, Any] | None) -> dict[str, Any]:
        """The cache, unless this kubelet's own last write is newer than what it shows (the
        status manager remembers what it sent, so a lagging cache does not make it write again)."""
        if written is None or _meta(written).get("uid") != _meta(cached).get("uid"):
            return cached
        version = decimal_or_zero
        newer = version(_meta(written).get("resourceVersion", "")) > version(_meta(cached).get("resourceVersion", ""))
        return written if newer else cached

    def create_sandbox(self, request: Request, pod: dict[str, Any], now: int) -> _Sandbox | None:
        ip = self.pod_ip(pod)
        if ip is None:
            return None
        sandbox = _Sandbox(_meta(pod)["uid"], ip, now, now + self.config.startup_ticks)
        self.sandboxes[request] = sandbox
        return sandbox

    def pod_ip(self, pod: dict[str, Any]) -> str | None:
        """The address the pod's status names if it is ours and free, else the lowest free one."""
        taken = {sandbox.ip for sandbox in self.sandboxes.values()}
        network = self.config.pod_network
        known = (pod.get("status") or {}).get("podIP") or ""
        if known.rsplit(".", 1)[0] == network and known not in taken:
            return known
        return next((f"{network}.{n}" for n in HOST_NUMBERS if f"{network}.{n}" not in taken), None)

    @staticmethod
    def behaviour(pod: dict[str, Any]) -> tuple[int | None, int]:
        """(exit after N ticks or None, exit code) from the pod's annotations."""
        annotations = _meta(pod).get("annotations") or {}
        exit_code = _whole_number(annotations.get(EXIT_CODE_ANNOTATION))
        return _whole_number(annotations.get(EXIT_AFTER_ANNOTATION)), exit_code or 0

    def container_run(self, pod: dict[str, Any], sandbox: _Sandbox, now: int) -> ContainerRun:
        exit_after, exit_code = self.behaviour(pod)
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        if sandbox.stopped_at is None:
            return run_at(sandbox.running_at, exit_after, exit_code, policy, now)
        return stopped(run_at(sandbox.running_at, exit_after, exit_code, policy, sandbox.stopped_at),
                       sandbox.stopped_at)

    def terminate(self, pod: dict[str, Any], sandbox: _Sandbox | None, client: Client, now: int) -> Reconcile:
        """Stop the pod, report its terminal status, then delete it for good (status manager)."""
        if (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            if sandbox is None:  # never started here: no sandbox, its containers never ran
                sandbox = _Sandbox(_meta(pod)["uid"], "", now, now + self.config.startup_ticks)
            if sandbox.stopped_at is None:
                sandbox.stopped_at = now
            if not (yield from self.write_status(pod, sandbox, self.container_run(pod, sandbox, now), client)):
                return Result(requeue=True)
        meta = _meta(pod)
        answer = yield client.delete("pods", meta["namespace"], meta["name"], uid=meta.get("uid", ""),
                                     grace_period_seconds=0)
        if answer.ok or answer.not_found or answer.conflict:  # conflict: the uid is another pod's
            return Result()
        return Result(requeue=True)

    # ----- pod status -----------------------------------------------------------------------------

    def write_status(self, pod: dict[str, Any], sandbox: _Sandbox, run: ContainerRun, client: Client) -> Reconcile:
        """Patch the pod's status if it differs from what it should be; False if that failed."""
        wanted = self.pod_status(pod, sandbox, run)
        if self.status_matches(pod.get("status") or {}, wanted):
            return True
        meta = _meta(pod)
        answer = yield client.patch("pods", meta["namespace"], meta["name"],
                                    {"metadata": {"uid": meta.get("uid", "")},
                                     "status": status_patch(pod.get("status") or {}, wanted)},
                                    "strategic", subresource="status")
        if answer.object is not None:
            sandbox.written = answer.object
        return answer.ok or answer.not_found

    @staticmethod
    def status_matches(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        conditions = {c.get("type"): c for c in current.get("conditions") or ()}
        for condition in wanted["conditions"]:
            have = conditions.get(condition["type"]) or {}
            if any(have.get(key) != value for key, value in condition.items()):
                return False
        return all(current.get(key) == value for key, value in wanted.items() if key != "conditions")

    def phase(self, pod: dict[str, Any], sandbox: _Sandbox, run: ContainerRun) -> str:
        """getPhase for pods whose containers all behave alike."""
        if run.state == "terminated":
            return "Succeeded" if run.exit_code == 0 else "Failed"
        if run.state == "waiting" and run.reason == "ContainerCreating":
            return "Pending"
        return "Running"

    def pod_status(self, pod: dict[str, Any], sandbox: _Sandbox, run: ContainerRun) -> dict[str, Any]:
        phase = self.phase(pod, sandbox, run)
        ready = run.state == "running"
        if ready:
            ready_since, not_ready = run.started_at, ""
        else:
            ready_since = run.finished_at if run.state == "terminated" else (
                run.last.finished_at if run.last is not None else sandbox.created_at)
            not_ready = "PodCompleted" if phase in TERMINAL_PHASES else "ContainersNotReady"

        def condition(kind: str, true: bool, since: int | None, reason: str = "") -> dict[str, Any]:
            return {"type": kind, "status": "True" if true else "False", "reason": reason or None,
                    "message": None, "lastProbeTime": None, "lastTransitionTime": timestamp(since or 0)}
        status = {"phase": phase,
                  "conditions": [condition("PodScheduled", True, sandbox.created_at),
                                 condition("Initialized", True, sandbox.created_at),
                                 condition("ContainersReady", ready, ready_since, not_ready),
                                 condition("Ready", ready, ready_since, not_ready)],
                  "hostIP": self.config.internal_ip, "hostIPs": [{"ip": self.config.internal_ip}],
                  "startTime": timestamp(sandbox.created_at),
                  "containerStatuses": [self.container_status(pod, c, run) for c in
                                        (pod.get("spec") or {}).get("containers") or ()]}
        if sandbox.ip:
            status.update(podIP=sandbox.ip, podIPs=[{"ip": sandbox.ip}])
        return status

    def container_status(self, pod: dict[str, Any], container: dict[str, Any], run: ContainerRun) -> dict[str, Any]:
        name, uid = container.get("name", ""), _meta(pod).get("uid", "")
        image = container.get("image", "")
        status = {"name": name, "image": image, "imageID": f"kinv.dev/{image}",
                  "ready": run.state == "running", "started": run.state == "running",
                  "restartCount": run.restarts, "state": _state(run), "lastState": _state(run.last) if run.last else {}}
        if run.started_at is not None or run.last is not None:
            status["containerID"] = f"kinv://{uid}/{name}"
        return status


def status_patch(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The status part of the kubelet's patch from ``current`` to ``wanted``: ``wanted``, plus a
    ``$patch: delete`` for each pod IP ``current`` names and ``wanted`` does not. podIPs merge by
    ``ip``, so a patch listing only the new IPs keeps the old ones: a pod whose sandbox came back
    with another address would never match and would be patched forever. kube's status manager
    sends ``strategicpatch.CreateTwoWayMergePatch(old status, new status)``
    (``pkg/util/pod/pod.go``, ``PatchPodStatus``), which writes exactly those delete directives;
    the conditions need none, since the kubelet's wanted status keeps every condition type it does
    not own (``mergePodStatus``) and this one sends only its own, which merge by type."""
    wanted_ips = [entry.get("ip") for entry in wanted.get("podIPs") or ()]
    current_ips = [entry.get("ip") for entry in current.get("podIPs") or () if isinstance(entry, dict)]
    gone = [{"$patch": "delete", "ip": ip} for ip in dict.fromkeys(current_ips) if ip not in wanted_ips]
    if not gone:
        return wanted
    return {**wanted, "podIPs": [*(wanted.get("podIPs") or ()), *gone]}


def _state(run: ContainerRun) -> dict[str, Any]:
    if run.state == "waiting":
        return {"waiting": {"reason": run.reason}}
    if run.state == "running":
        return {"running": {"startedAt": timestamp(run.started_at or 0)}}
    terminated = {"exitCode": run.exit_code, "reason": run.reason, "finishedAt": timestamp(run.finished_at or 0)}
    if run.started_at is not None:
        terminated["startedAt"] = timestamp(run.started_at)
    return {"terminated": terminated}


class KubeletHost(ControllerHost):
    """A node's kubelet process: a ControllerHost running the node status loop, the NodeLease
    controller and the pod workers on the host's clock, each with its own queue (so a heartbeat
    never waits behind pods). The node's key is queued into the two node loops at start: they
    run from process start, not from an event. Kubelets are not elected."""

    def __init__(self, node_id: str, instances: tuple[str, ...], log: ApiLog, credentials: Credentials,
                 config: KubeletConfig, host_config: HostConfig = KUBELET_HOST_CONFIG, *,
                 disk: Disk | None = None, clock: Callable[[], int] | None = None) -> None:
        assert host_config.election is None, "kubelets run without leader election"
        self.node_status = NodeStatus(config, clock=lambda: self.now)
        self.node_lease = NodeLease(config, clock=lambda: self.now)
        self.pod_workers = PodWorkers(config, clock=lambda: self.now)
        super().__init__(node_id, instances, log, credentials, (self.node_status, self.node_lease, self.pod_workers),
                         host_config, disk=disk, clock=clock)
        for controller in self.controllers[:2]:
            controller.queue.add(Request("", config.node_name))

    def set_runtime_ready(self, ready: bool) -> None:
        self.node_status.set_runtime_ready(ready)
