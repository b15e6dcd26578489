"""The node lifecycle controller and the taint eviction controller: a node whose kubelet stops
reporting becomes Ready=Unknown and tainted, and the pods on it that do not tolerate the taint
are deleted, at once or after their toleration seconds.

Sources: kube ``pkg/controller/nodelifecycle/node_lifecycle_controller.go`` (``monitorNodeHealth``,
``tryUpdateNodeHealth``, ``doNoScheduleTaintingPass``, ``doNoExecuteTaintingPass``,
``processTaintBaseEviction``, ``markNodeAsReachable``), ``pkg/controller/util/node``
(``MarkPodsNotReady``, ``SwapNodeControllerTaint``), ``pkg/controller/tainteviction/taint_eviction.go``
(``processPodOnNode``, ``getMinTolerationTime``) and ``pkg/apis/core/v1/helper``
(``GetMatchingTolerations``, ``ToleratesTaint``). The rules kept:

- Every node is looked at every ``nodeMonitorPeriod`` (5 s) and on each event of its Node or its
  Lease (``kube-node-lease/<node>``). Health is judged on the controller's *own* clock: it
  remembers, per node, the tick at which it last saw the Ready condition's ``lastHeartbeatTime``
  or the Lease's ``renewTime`` change (the probe time), never the kubelet's timestamps, which
  may come from a skewed clock. A node is unhealthy once more than ``nodeMonitorGracePeriod``
  has passed since the probe: 50 s, the default since Kubernetes 1.32 (PR #126287, "Update Node
  Monitor Grace Period default duration to 50s"; 40 s before). A node whose kubelet never posted
  a Ready condition is judged from its creation with ``nodeStartupGracePeriod`` (60 s). A node
  first seen (or seen again by a restarted controller) starts with the probe at "now".
- An unhealthy node gets Ready, MemoryPressure, DiskPressure and PIDPressure set to Unknown
  (reason ``NodeStatusUnknown``, "Kubelet stopped posting node status."; a condition never
  posted is added with ``NodeStatusNeverUpdated``), written only when Ready changes: a status
  patch carrying the read ``resourceVersion`` as precondition (kube's ``UpdateStatus`` has the
  same precondition), so a heartbeat that lands first wins.
- Taints follow the stored Ready condition: Unknown gives ``node.kubernetes.io/unreachable``,
  False gives ``node.kubernetes.io/not-ready`` (the two are exclusive, as kube swaps them), both
  as NoExecute (with ``timeAdded``) and as NoSchedule; True removes them. The NoSchedule taints
  of the other conditions (memory, disk, PID pressure, network unavailable) and of
  ``spec.unschedulable`` are kept the same way. Taints are written with a merge patch of
  ``spec.taints`` under a ``resourceVersion`` precondition, as ``PatchNodeTaints`` does.
- While a node is Unknown, its pods whose Ready condition is True are set Ready=False (a status
  patch), so that Endpoints stop sending them traffic (``MarkPodsNotReady``).
- Taint eviction, per pod on a node with NoExecute taints: a pod that does not tolerate every
  one is deleted at once; one that tolerates them all is deleted after the smallest
  ``tolerationSeconds`` of the tolerations used (0 or less: at once; none set: never), counted
  from when this controller first saw the pod under the taint. Removing the taint, or the pod
  leaving the node, cancels the eviction.

Left out, and why: the zone states and eviction rate limits (``--node-eviction-rate``,
disruption modes): the tests have no zones, and rate limits only delay; the taint queue that makes
kube add the NoExecute taint one monitor pass after the Ready=Unknown write (here the same
reconcile writes both); ``markNodeAsReachable`` on first sight of a node after a restart (kube
removes and at once re-adds the taints: a flap with the same end state); the DisruptionTarget
pod condition the taint manager adds before deleting (deletes carry a uid precondition instead,
so a re-created pod of the same name is never evicted for its predecessor); node label
reconciliation; events and metrics. ``MarkPodsNotReady`` is applied level-triggered while the
node is Unknown rather than once on the transition (kube retries through ``nodesToRetry``): the
kubelet is silent then, so nothing fights it, and a crash between the writes cannot lose it.

The reconcile interface gives no clock, so both controllers take one (``clock() -> tick``), as
kube's controller has an injectable ``now``. What they remember (probe times, eviction start
times) lives as long as the process: the host starts every term with fresh copies of its
reconcilers, so a restarted controller judges every node from "now" again, as kube's does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.admission.default_toleration_seconds import NOT_READY_TAINT, UNREACHABLE_TAINT
from impl.apiserver.objectmeta import tick_of, timestamp
from impl.controllers.api import Cache, Client, Request, Result, Watch, request_for
from impl.controllers.api import meta as _meta
from impl.controllers.scheduler import tolerates

__all__ = ["NodeLifecycle", "TaintEviction", "NodeHealth", "Clock", "NODE_LEASE_NAMESPACE",
           "NODE_MONITOR_PERIOD_TICKS", "NODE_MONITOR_GRACE_PERIOD_TICKS", "NODE_STARTUP_GRACE_PERIOD_TICKS",
           "NOT_READY_TAINT", "UNREACHABLE_TAINT", "matching_tolerations",
           "minimum_toleration_ticks"]

Clock = Callable[[], int]

NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_MONITOR_PERIOD_TICKS = 5  # --node-monitor-period
NODE_MONITOR_GRACE_PERIOD_TICKS = 50  # --node-monitor-grace-period (1.32+; 40 before)
NODE_STARTUP_GRACE_PERIOD_TICKS = 60  # --node-startup-grace-period

NO_EXECUTE, NO_SCHEDULE = "NoExecute", "NoSchedule"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# nodeConditionToTaintKeyStatusMap: condition type -> status -> NoSchedule taint key
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
READY_NO_EXECUTE_TAINTS = {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT}
# The conditions an unresponsive node's controller sets Unknown (NetworkUnavailable is the
# control plane's, not the kubelet's).
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def condition_of(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)


def _ready_status(node: dict[str, Any]) -> str | None:
    ready = condition_of(node, "Ready")
    return ready.get("status") if ready is not None else None


def no_execute_taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == NO_EXECUTE]


# ----- node lifecycle ---------------------------------------------------------------------------

@attrs.define
class NodeHealth:
    """nodeHealthData: the last Ready heartbeat and Lease renewal seen, and when (own clock)."""

    heartbeat: str | None
    lease_renewed: str | None
    probe_tick: int


def _node_of_lease(lease: dict[str, Any], cache: Cache) -> list[Request]:
    meta = _meta(lease)
    return [Request("", meta.get("name", ""))] if meta.get("namespace") == NODE_LEASE_NAMESPACE else []


class NodeLifecycle:
    name = "node-lifecycle"
    watches = (Watch("nodes"), Watch("leases", enqueue=_node_of_lease), Watch("pods", enqueue=None))

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.health: dict[str, NodeHealth] = {}

    def reconcile(self, request: Request, cache: Cache, client: Client):
        node = cache.get("nodes", "", request.name)
        if node is None:
            self.health.pop(request.name, None)
            return Result()
        now = self.clock()
        health = self.observe_health(node, cache.get("leases", NODE_LEASE_NAMESPACE, request.name), now)
        if now > health.probe_tick + self.grace_period_ticks(node):
            conditions = self.unknown_conditions(node, now)
            if conditions:
                answer = yield client.patch("nodes", "", request.name, {
                    "metadata": {"resourceVersion": _meta(node).get("resourceVersion", "")},
                    "status": {"conditions": conditions}}, "strategic", "status")
                if answer.object is None:
                    return Result(requeue=True)
                node = answer.object
        taints = self.taints_wanted(node, self.clock())
        if taints is not None:
            answer = yield client.patch("nodes", "", request.name, {
                "metadata": {"resourceVersion": _meta(node).get("resourceVersion", "")},
                "spec": {"taints": taints}})
            if answer.object is None:
                return Result(requeue=True)
            node = answer.object
        if _ready_status(node) == "Unknown" and not (yield from self.mark_pods_not_ready(node, cache, client)):
            return Result(requeue=True)
        return Result(requeue_after=NODE_MONITOR_PERIOD_TICKS)

    # ----- health on the controller's own clock ------------------------------------------------

    def observe_health(self, node: dict[str, Any], lease: dict[str, Any] | None, now: int) -> NodeHealth:
        """tryUpdateNodeHealth's bookkeeping: the probe moves to now when the heartbeat or the
        lease renewal seen differs from the one remembered."""
        name = _meta(node)["name"]
        ready = condition_of(node, "Ready")
        heartbeat = ready.get("lastHeartbeatTime") if ready is not None else None
        renewed = (lease.get("spec") or {}).get("renewTime") if lease is not None else None
        saved = self.health.get(name)
        if saved is None:
            probe = now if ready is not None else self.created_tick(node)
            saved = self.health[name] = NodeHealth(heartbeat, renewed, probe)
        if self.heartbeat_moved(saved, heartbeat) or self.lease_moved(saved, renewed):
            saved.heartbeat, saved.lease_renewed, saved.probe_tick = heartbeat, renewed, now
        return saved

    @staticmethod
    def heartbeat_moved(saved: NodeHealth, heartbeat: str | None) -> bool:
        return heartbeat is not None and heartbeat != saved.heartbeat

    @staticmethod
    def lease_moved(saved: NodeHealth, renewed: str | None) -> bool:
        return renewed is not None and renewed != saved.lease_renewed

    @staticmethod
    def created_tick(node: dict[str, Any]) -> int:
        try:
            return tick_of(_meta(node).get("creationTimestamp", ""))
        except ValueError:
            return 0

    @staticmethod
    def grace_period_ticks(node: dict[str, Any]) -> int:
        """nodeStartupGracePeriod until the kubelet has posted a Ready condition."""
        if condition_of(node, "Ready") is None:
            return NODE_STARTUP_GRACE_PERIOD_TICKS
        return NODE_MONITOR_GRACE_PERIOD_TICKS

    @staticmethod
    def unknown_conditions(node: dict[str, Any], now: int) -> list[dict[str, Any]]:
        """The kubelet's conditions set Unknown, to write; empty when Ready is already Unknown
        (kube writes only when the Ready condition changes)."""
        if _ready_status(node) == "Unknown":
            return []
        changed = []
        for kind in KUBELET_CONDITIONS:
            current = condition_of(node, kind)
            if current is None:
                changed.append({"type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                "message": "Kubelet never posted node status.",
                                "lastHeartbeatTime": _meta(node).get("creationTimestamp", timestamp(now)),
                                "lastTransitionTime": timestamp(now)})
            elif current.get("status") != "Unknown":
                changed.append({**current, "status": "Unknown", "reason": "NodeStatusUnknown",
                                "message": "Kubelet stopped posting node status.",
                                "lastTransitionTime": timestamp(now)})
        return changed

    # ----- taints --------------------------------------------------------------------------------

    @staticmethod
    def managed(taint: dict[str, Any]) -> bool:
        """Taints this controller owns: condition and unschedulable NoSchedule taints, and the
        not-ready and unreachable NoExecute ones."""
        if taint.get("effect") == NO_EXECUTE:
            return taint.get("key") in READY_NO_EXECUTE_TAINTS.values()
        keys = {key for by_status in CONDITION_TAINTS.values() for key in by_status.values()}
        return taint.get("effect") == NO_SCHEDULE and taint.get("key") in keys | {UNSCHEDULABLE_TAINT}

    @staticmethod
    def wanted_keys(node: dict[str, Any]) -> set[tuple[str, str]]:
        """(key, effect) of the taints the node's conditions and spec call for."""
        wanted = set()
        for condition in (node.get("status") or {}).get("conditions") or ():
            key = CONDITION_TAINTS.get(condition.get("type"), {}).get(condition.get("status"))
            if key:
                wanted.add((key, NO_SCHEDULE))
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.add((UNSCHEDULABLE_TAINT, NO_SCHEDULE))
        no_execute = READY_NO_EXECUTE_TAINTS.get(_ready_status(node) or "")
        if no_execute:
            wanted.add((no_execute, NO_EXECUTE))
        return wanted

    def taints_wanted(self, node: dict[str, Any], now: int) -> list[dict[str, Any]] | None:
        """The node's new taint list, or None if its managed taints are already right. Taints
        of others stay; a wanted taint already there keeps its ``timeAdded``."""
        taints = list((node.get("spec") or {}).get("taints") or ())
        wanted = self.wanted_keys(node)
        have = {(t.get("key"), t.get("effect")) for t in taints if self.managed(t)}
        if have == wanted:
            return None
        kept = [t for t in taints if not self.managed(t) or (t.get("key"), t.get("effect")) in wanted]
        for key, effect in sorted(wanted - have):
            taint = {"key": key, "effect": effect}
            if effect == NO_EXECUTE:
                taint["timeAdded"] = timestamp(now)
            kept.append(taint)
        return kept

    # ----- pods on an unreachable node ---------------------------------------------------------

    @staticmethod
    def pods_to_mark_not_ready(node: dict[str, Any], cache: Cache) -> list[dict[str, Any]]:
        name = _meta(node)["name"]
        return [pod for pod in cache.list("pods") if (pod.get("spec") or {}).get("nodeName") == name
                and (condition_of(pod, "Ready") or {}).get("status") == "True"]

    def mark_pods_not_ready(self, node: dict[str, Any], cache: Cache, client: Client):
        """MarkPodsNotReady; whether every pod was written (a pod gone meanwhile counts)."""
        everything = True
        for pod in self.pods_to_mark_not_ready(node, cache):
            meta = _meta(pod)
            answer = yield client.patch("pods", meta["namespace"], meta["name"], {
                "metadata": {"resourceVersion": meta.get("resourceVersion", "")},
                "status": {"conditions": [{"type": "Ready", "status": "False",
                                           "lastTransitionTime": timestamp(self.clock())}]}}, "strategic", "status")
            everything = everything and (answer.ok or answer.not_found)
        return everything


# ----- taint eviction ---------------------------------------------------------------------------

def matching_tolerations(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]):
    """GetMatchingTolerations: (every taint tolerated, the first toleration used for each), with
    the scheduler's ToleratesTaint (effect and key match when set; Exists matches any value,
    Equal or no operator the taint's value)."""
    used = []
    for taint in taints:
        toleration = next((t for t in tolerations if tolerates(t, taint)), None)
        if toleration is None:
            return False, []
        used.append(toleration)
    return True, used


def minimum_toleration_ticks(used: list[dict[str, Any]]) -> int | None:
    """getMinTolerationTime: the smallest tolerationSeconds (0 if any is 0 or less); None when
    none is set (tolerated forever)."""
    seconds = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return max(0, min(seconds))


def _pods_on_tainted_node(node: dict[str, Any], cache: Cache) -> list[Request]:
    """A node with NoExecute taints wakes its pods (kube: when its NoExecute taints change; a
    removed taint needs no wake-up here, since a pod's scheduled eviction checks again when due)."""
    if not no_execute_taints(node):
        return []
    name = _meta(node).get("name")
    return [request_for(pod) for pod in cache.list("pods") if (pod.get("spec") or {}).get("nodeName") == name]


class TaintEviction:
    name = "taint-eviction"
    watches = (Watch("pods"), Watch("nodes", enqueue=_pods_on_tainted_node))

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started: dict[Request, int] = {}  # pod -> tick its eviction was scheduled

    def reconcile(self, request: Request, cache: Cache, client: Client):
        pod = cache.get("pods", request.namespace, request.name)
        taints = self.taints_under(pod, cache)
        if not taints:
            self.started.pop(request, None)  # cancelWorkWithEvent
            return Result()
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        wait = self.ticks_left(request, tolerated, used)
        if wait is None:
            self.started.pop(request, None)
            return Result()
        if wait > 0:
            return Result(requeue_after=wait)
        answer = yield client.delete("pods", request.namespace, request.name, uid=_meta(pod).get("uid", ""))
        if not (answer.ok or answer.not_found or answer.conflict):
            return Result(requeue=True)
        self.started.pop(request, None)
        return Result()

    @staticmethod
    def taints_under(pod: dict[str, Any] | None, cache: Cache) -> list[dict[str, Any]]:
        """The NoExecute taints of the pod's node; none for a pod gone, unbound, already being
        deleted, or on a node gone."""
        if pod is None or _meta(pod).get("deletionTimestamp"):
            return []
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = cache.get("nodes", "", node_name) if node_name else None
        return no_execute_taints(node) if node is not None else []

    def ticks_left(self, request: Request, tolerated: bool, used: list[dict[str, Any]]) -> int | None:
        """Ticks until the pod is evicted: 0 now, None never (processPodOnNode)."""
        if not tolerated:
            return 0
        minimum = minimum_toleration_ticks(used)
        if minimum is None:
            return None
        now = self.clock()
        started = self.started.setdefault(request, now)
        return max(0, started + minimum - now)
