"""kube-scheduler with its default filters and one score, as a reconciler over pending pods.

Sources: k8s.io/kubernetes ``pkg/scheduler`` (``schedule_one.go``: ``scheduleOne``,
``skipPodSchedule``, ``findNodesThatFitPod``, ``selectHost``, the assume-then-bind cycle and
``handleSchedulingFailure``; ``internal/cache``: ``AssumePod``, ``ForgetPod``, ``AddPod``;
``framework/plugins``: ``nodeunschedulable``, ``tainttoleration``, ``nodeaffinity``,
``noderesources/fit.go`` and ``least_allocated.go``; ``framework/types.go``: ``FitError``) and
``pkg/apis/core/v1/helper``'s ``ToleratesTaint``. The rules kept:

- A pod is scheduled if it has no ``spec.nodeName``, names this scheduler (``default-scheduler``),
  is not being deleted and is not already assumed. The pod informer leaves out finished pods
  (field selector ``status.phase!=Succeeded,status.phase!=Failed``, as kube-scheduler's does), so
  they hold no resources.
- Filters, each a method: the node is Ready and not ``spec.unschedulable`` (unless the pod
  tolerates ``node.kubernetes.io/unschedulable:NoSchedule``); every NoSchedule and NoExecute
  taint is tolerated (a toleration matches when its effect is empty or equal, its key is empty
  or equal, and its operator is Exists or Equal with the same value: an empty key with Exists
  tolerates everything); the pod's ``nodeSelector`` labels are on the node; the pod's requests
  fit: for cpu and memory, the requests of the pods on the node plus this pod's are at most the
  node's ``status.allocatable``, and the pods on the node plus one at most its ``pods``. The
  first failing filter is the node's reason (kube's framework stops there too; within the fit
  filter kube lists every resource short, here the first).
- A pod's request is the sum over its containers, or the largest init container's if that is
  more (``computePodResourceRequest``); a container without a request for a resource it limits
  requests its limit (the API defaulting does this in Kubernetes).
- Score (NodeResourcesFit, LeastAllocated, cpu and memory weighing 1 each): for each resource
  ``(allocatable - requested) * 100 // allocatable`` with the pod included (0 when over), averaged
  with integer division. Scoring counts a container without requests as 100m cpu and 200 MB
  memory (``GetNonzeroRequests``) so that empty pods still spread. Ties go to the first node by
  name (kube picks at random among the best).
- The scheduler's cache: pods bound to nodes, fed by informer events (``observe``), and pods
  *assumed* on a node from the moment the scheduler chose it until the informer shows them bound
  (a bind in flight, or done but not yet seen). A failed bind forgets the assumption and retries
  with backoff. This is what keeps two pods from being placed in the same free room while the
  cache lags.
- A pod that fits nowhere gets the condition ``PodScheduled=False, reason Unschedulable`` with
  FitError's message ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were not ready.")
  through a strategic-merge patch of its status, written only when it changes
  (``updatePod``), and is tried again after ``UNSCHEDULABLE_RETRY_TICKS`` (10 s, kube's
  ``podMaxBackoffDuration``) or at once when a node is added or changes (kube moves
  unschedulable pods back to the active queue on node events).

Left out: preemption, affinity and anti-affinity terms, topology spread, volume and port
filters, image locality, extenders, scheduling gates, percentageOfNodesToScore, the
scheduling queue's priority order (the workqueue takes keys first in, first out), and the
condition's ``lastTransitionTime`` (a reconciler has no clock). Kube relies on the node
lifecycle controller's ``not-ready`` taints instead of reading the Ready condition; until that
controller runs everywhere, the Ready condition is read directly, as the old
``CheckNodeCondition`` predicate did.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import attrs

from impl.apiserver.quantity import parse_quantity
from impl.controllers.api import Answer, Cache, Client, Reconcile, Request, Result, Watch, request_for
from impl.controllers.api import meta as _meta
from impl.controllers.informer import DeletedFinalStateUnknown

__all__ = ["Scheduler", "SCHEDULER_NAME", "UNSCHEDULABLE_RETRY_TICKS", "Resources", "pod_requests",
           "tolerates", "UNSCHEDULABLE_TAINT"]

SCHEDULER_NAME = "default-scheduler"
UNSCHEDULABLE_RETRY_TICKS = 10  # podMaxBackoffDuration, 10 s
MAX_NODE_SCORE = 100
DEFAULT_CPU_MILLIS = 100  # DefaultMilliCPURequest: what scoring counts for a container without one
DEFAULT_MEMORY_BYTES = 200 * 1024 * 1024  # DefaultMemoryRequest
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
FILTERED_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule only scores
UNFINISHED_PODS = "status.phase!=Succeeded,status.phase!=Failed"


@attrs.frozen
class Resources:
    """Requests or allocatable amounts: cpu in millicores, memory in bytes, a count of pods."""

    cpu: int = 0
    memory: int = 0
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory, self.pods + other.pods)


@functools.lru_cache(maxsize=1024)
def _quantity(text: str) -> Fraction:
    return parse_quantity(text)


def _whole(value: Fraction) -> int:
    """Rounded up, as Quantity.Value and MilliValue round."""
    return -(-value.numerator // value.denominator)


def _amounts(values: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """(cpu millis, memory bytes) of a requests or allocatable map; None where absent."""
    values = values or {}
    cpu = _whole(_quantity(str(values["cpu"])) * 1000) if "cpu" in values else None
    memory = _whole(_quantity(str(values["memory"]))) if "memory" in values else None
    return cpu, memory


def _container_request(container: dict[str, Any], nonzero: bool) -> Resources:
    resources = container.get("resources") or {}
    cpu, memory = _amounts(resources.get("requests"))
    limit_cpu, limit_memory = _amounts(resources.get("limits"))
    cpu = cpu if cpu is not None else limit_cpu
    memory = memory if memory is not None else limit_memory
    if nonzero:
        return Resources(cpu if cpu is not None else DEFAULT_CPU_MILLIS,
                         memory if memory is not None else DEFAULT_MEMORY_BYTES)
    return Resources(cpu or 0, memory or 0)


def pod_requests(pod: dict[str, Any], nonzero: bool = False) -> Resources:
    """computePodResourceRequest: the containers' sum, or the largest init container where more;
    one pod. ``nonzero``: count missing requests as kube's scoring defaults."""
    spec = pod.get("spec") or {}
    total = Resources(pods=1)
    for container in spec.get("containers") or ():
        total = total + _container_request(container, nonzero)
    for container in spec.get("initContainers") or ():
        init = _container_request(container, nonzero)
        total = Resources(max(total.cpu, init.cpu), max(total.memory, init.memory), total.pods)
    return total


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """v1 Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def _uid(obj: dict[str, Any]) -> str:
    return _meta(obj).get("uid", "")


def _node_name(pod: dict[str, Any]) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


@attrs.frozen
class _Placed:
    """A pod the scheduler's cache counts on a node."""

    node: str
    fit: Resources  # its requests, for the filter
    score: Resources  # its non-zero requests, for the score
    assumed: bool


class Scheduler:
    name = "scheduler"

    def __init__(self, scheduler_name: str = SCHEDULER_NAME) -> None:
        self.scheduler_name = scheduler_name
        self.placed: dict[str, _Placed] = {}  # pod uid -> where the cache counts it
        # The cached pods without a node, kept from the same informer events as the cache: a
        # node event re-queues them without copying every pod of the cache (with 1,000 pods on
        # 50 nodes, those copies were most of a run's time).
        self.unbound: set[Request] = set()
        self.watches = (Watch("pods", field_selector=UNFINISHED_PODS), Watch("nodes", enqueue=self._pending_pods))

    def _pending_pods(self, node: dict[str, Any], cache: Cache) -> list[Request]:
        """Node events move every pod still waiting back into the queue (the host orders them)."""
        return list(self.unbound)

    # ----- the scheduler's cache, fed by informer events ---------------------------------------

    def observe(self, resource: str, change: str, old: Any, new: Any) -> None:
        if resource != "pods":
            return
        if isinstance(old, DeletedFinalStateUnknown):
            old = old.object
        if old is not None:
            self.unbound.discard(request_for(old))
        if new is not None and not _node_name(new):
            self.unbound.add(request_for(new))
        if old is not None and (new is None or _uid(old) != _uid(new)):
            self.placed.pop(_uid(old), None)  # RemovePod (a re-created pod is another pod)
        if new is not None and _node_name(new):
            self.placed[_uid(new)] = self._placement(new, _node_name(new), assumed=False)  # AddPod confirms

    @staticmethod
    def _placement(pod: dict[str, Any], node: str, assumed: bool) -> _Placed:
        return _Placed(node, pod_requests(pod), pod_requests(pod, nonzero=True), assumed)

    def assume(self, pod: dict[str, Any], node: str) -> None:
        self.placed[_uid(pod)] = self._placement(pod, node, assumed=True)

    def forget(self, pod: dict[str, Any]) -> None:
        placed = self.placed.get(_uid(pod))
        if placed is not None and placed.assumed:
            del self.placed[_uid(pod)]

    def requested(self) -> dict[str, tuple[Resources, Resources]]:
        """node -> (requests, non-zero requests) of the pods counted on it."""
        totals: dict[str, tuple[Resources, Resources]] = {}
        for placed in self.placed.values():
            fit, score = totals.get(placed.node, (Resources(), Resources()))
            totals[placed.node] = (fit + placed.fit, score + placed.score)
        return totals

    # ----- the scheduling cycle -----------------------------------------------------------------

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Reconcile:
        pod = cache.get("pods", request.namespace, request.name)
        if pod is None or self.skip(pod):
            return Result()
        nodes = cache.list("nodes")
        requested = self.requested()
        feasible, reasons = self.find_nodes_that_fit(pod, nodes, requested)
        if not feasible:
            return (yield from self.record_unschedulable(pod, len(nodes), reasons, client))
        node = self.select_host(pod, feasible, requested)
        self.assume(pod, node)
        answer = yield client.bind(pod, node)
        return self.bound(pod, answer)

    def skip(self, pod: dict[str, Any]) -> bool:
        """skipPodSchedule, and pods that are not ours or already placed."""
        return (_node_name(pod) != "" or (pod.get("spec") or {}).get("schedulerName") != self.scheduler_name
                or bool(_meta(pod).get("deletionTimestamp")) or _uid(pod) in self.placed)

    def bound(self, pod: dict[str, Any], answer: Answer) -> Result:
        if answer.ok:
            return Result()  # stays assumed until the informer shows it bound
        self.forget(pod)
        if answer.not_found:
            return Result()  # deleted meanwhile
        return Result(requeue=True)

    # ----- filters --------------------------------------------------------------------------

    def find_nodes_that_fit(self, pod: dict[str, Any], nodes: Iterable[dict[str, Any]],
                            requested: dict[str, tuple[Resources, Resources]]) -> tuple[list[dict], list[str]]:
        """The feasible nodes, and one reason for each node that is not."""
        feasible, reasons = [], []
        for node in sorted(nodes, key=lambda n: _meta(n).get("name", "")):
            used = requested.get(_meta(node).get("name", ""), (Resources(), Resources()))[0]
            reason = self.filter(pod, node, used)
            if reason is None:
                feasible.append(node)
            else:
                reasons.append(reason)
        return feasible, reasons

    def filter(self, pod: dict[str, Any], node: dict[str, Any], used: Resources) -> str | None:
        """The first failing filter's reason, or None if the pod may go to the node."""
        for check in (self.node_ready, self.node_schedulable, self.taints_tolerated, self.node_selector_matches):
            reason = check(pod, node)
            if reason is not None:
                return reason
        return self.resources_fit(pod, node, used)

    def node_ready(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        conditions = (node.get("status") or {}).get("conditions") or ()
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        return None if ready else "node(s) were not ready"

    def node_schedulable(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        if not (node.get("spec") or {}).get("unschedulable"):
            return None
        if any(tolerates(t, UNSCHEDULABLE_TAINT) for t in (pod.get("spec") or {}).get("tolerations") or ()):
            return None
        return "node(s) were unschedulable"

    def taints_tolerated(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        for taint in (node.get("spec") or {}).get("taints") or ():
            if taint.get("effect") in FILTERED_EFFECTS and not any(tolerates(t, taint) for t in tolerations):
                return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
        return None

    def node_selector_matches(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        wanted = (pod.get("spec") or {}).get("nodeSelector") or {}
        labels = _meta(node).get("labels") or {}
        if all(labels.get(key) == value for key, value in wanted.items()):
            return None
        return "node(s) didn't match Pod's node affinity/selector"

    def resources_fit(self, pod: dict[str, Any], node: dict[str, Any], used: Resources) -> str | None:
        """NodeResourcesFit: the first resource short, in kube's order (pods, cpu, memory)."""
        allocatable = self.allocatable(node)
        wanted = pod_requests(pod)
        if used.pods + 1 > allocatable.pods:
            return "Too many pods"
        if wanted.cpu and used.cpu + wanted.cpu > allocatable.cpu:
            return "Insufficient cpu"
        if wanted.memory and used.memory + wanted.memory > allocatable.memory:
            return "Insufficient memory"
        return None

    @staticmethod
    def allocatable(node: dict[str, Any]) -> Resources:
        values = (node.get("status") or {}).get("allocatable") or {}
        cpu, memory = _amounts(values)
        pods = _whole(_quantity(str(values["pods"]))) if "pods" in values else 0
        return Resources(cpu or 0, memory or 0, pods)

    # ----- score and choice ----------------------------------------------------------------------

    def select_host(self, pod: dict[str, Any], feasible: list[dict[str, Any]],
                    requested: dict[str, tuple[Resources, Resources]]) -> str:
        """The highest score; the first name among equals."""
        wanted = pod_requests(pod, nonzero=True)
        scored = []
        for node in feasible:
            name = _meta(node)["name"]
            used = requested.get(name, (Resources(), Resources()))[1]
            scored.append((-self.least_allocated_score(used + wanted, self.allocatable(node)), name))
        return min(scored)[1]

    @staticmethod
    def least_allocated_score(requested: Resources, allocatable: Resources) -> int:
        scores = [0 if capacity == 0 or wanted > capacity else (capacity - wanted) * MAX_NODE_SCORE // capacity
                  for wanted, capacity in ((requested.cpu, allocatable.cpu), (requested.memory, allocatable.memory))]
        return sum(scores) // len(scores)

    # ----- failure ---------------------------------------------------------------------------------

    @staticmethod
    def fit_error(node_count: int, reasons: list[str]) -> str:
        """FitError.Error(): reasons counted, sorted, joined."""
        if node_count == 0:
            return "no nodes available to schedule pods"
        counts: dict[str, int] = {}
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
        histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
        return f"0/{node_count} nodes are available: {', '.join(histogram)}."

    def record_unschedulable(self, pod: dict[str, Any], node_count: int, reasons: list[str],
                             client: Client) -> Reconcile:
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": self.fit_error(node_count, reasons)}
        if not self.condition_recorded(pod, condition):
            meta = _meta(pod)
            patch = {"metadata": {"uid": meta.get("uid", "")}, "status": {"conditions": [condition]}}
            answer = yield client.patch("pods", meta["namespace"], meta["name"], patch, "strategic",
                                        subresource="status")
            if not (answer.ok or answer.not_found):
                return Result(requeue=True)
        return Result(requeue_after=UNSCHEDULABLE_RETRY_TICKS)

    @staticmethod
    def condition_recorded(pod: dict[str, Any], condition: dict[str, str]) -> bool:
        for current in (pod.get("status") or {}).get("conditions") or ():
            if current.get("type") == condition["type"]:
                return all(current.get(k) == v for k, v in condition.items())
        return False
