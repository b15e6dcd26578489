"""The ReplicaSet controller: keeps ``spec.replicas`` active pods matching each ReplicaSet's
selector, and reports what it sees in the ReplicaSet's status.

Source: kube ``pkg/controller/replicaset/replica_set.go`` (``syncReplicaSet``,
``manageReplicas``, ``slowStartBatch``, ``getPodsToDelete``, the pod and ReplicaSet event
handlers), ``replica_set_utils.go`` (``calculateStatus``, ``updateReplicaSetStatus``) and
``pkg/controller/controller_utils.go`` (``ControllerExpectations``,
``UIDTrackingControllerExpectations``, ``ActivePodsWithRanks``). Rules kept:

- A reconcile reads its ReplicaSet and the namespace's pods from the caches; inactive pods
  (Succeeded, Failed, being deleted) do not count. It claims pods (podtemplate.claim): adopts
  matching orphans, releases its own that stopped matching; owners compared by UID.
- EXPECTATIONS. After issuing creates or deletes the controller records how many it expects to
  observe, and it does not create or delete for that ReplicaSet again until its informer has
  observed them all (``observe`` lowers the counts: a pod added with our controller reference is
  a create seen; a pod deleted or given a deletionTimestamp, among the ones we chose, is a delete
  seen) or until the record is ``EXPECTATIONS_TTL_TICKS`` old (kube's 5 minutes). Without this a
  second reconcile on a cache that has not yet seen the first one's pods creates them again.
  A ReplicaSet deleted (or re-created under its name: another UID) drops its record; a record
  counts only pods whose controller reference names the UID that set it.
- Too few pods: create the missing ones (at most ``BURST_REPLICAS`` per reconcile) from the
  template, ``generateName: <rs>-``, with the controller reference, in slow-start batches of
  1, 2, 4, ...: a failure ends the creates after its batch; the ones never tried are taken off
  the expectations. A create refused because the namespace is terminating counts as done.
- Too many: delete the surplus, the lowest ranked first (``deletion_order``): unassigned before
  assigned; Pending before Unknown before Running; not ready before ready; more pods of the same
  owner on its node first; ready for less time; more container restarts; created more recently
  (times compared in log2 buckets of age in ticks, kube's LogarithmicScaleDown: within one
  bucket the UID decides); at last UID, then name, for a deterministic order. A delete that
  fails is taken off the expectations (a 404 is no error).
- Status: replicas, fullyLabeledReplicas (pods carrying every template label), readyReplicas,
  availableReplicas (ready for more than minReadySeconds) and observedGeneration, written
  through the status subresource only when one of them changed (a refused write is retried once
  after a fresh read, as ``updateReplicaSetStatus`` does). When a ready pod is about to become
  available, the reconcile asks to run again at that tick.
- A failed write or unknown outcome ends the reconcile with a requeue (backoff).

Left out: the ReplicaFailure condition and events (nothing here reads them); the
pod-deletion-cost annotation; terminatingReplicas (an alpha field). The creates of a batch, and
the deletes, go out together, as kube's goroutines do. Time comes from ``clock`` (the reconciler
interface has none yet).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator
from typing import Any

import attrs

from impl.apiserver.objectmeta import tick_of
from impl.controllers.api import Answer, Cache, Call, Client, Request, Result, Watch, controller_owner
from impl.controllers.informer import DeletedFinalStateUnknown
from impl.controllers.podtemplate import (
    WriteRefused, claim, controlled_by, key_of, meta, normalized, owners_to_wake, pod_available_at, pod_from_template,
    pod_is_active, pod_is_available, pod_is_ready, pod_ready_since, selector_matches,
)

__all__ = ["ReplicaSetController", "Expectations", "Expectation", "BURST_REPLICAS", "EXPECTATIONS_TTL_TICKS",
           "SLOW_START_INITIAL_BATCH", "replica_sets_for_pod", "deletion_order"]

BURST_REPLICAS = 500  # kube-controller-manager's --concurrent... burstReplicas for ReplicaSets
EXPECTATIONS_TTL_TICKS = 300  # ExpectationsTimeout, 5 minutes
SLOW_START_INITIAL_BATCH = 1  # controller.SlowStartInitialBatchSize
STATUS_UPDATE_RETRIES = 1  # statusUpdateRetries
PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}  # podPhaseToOrdinal (others: 0)


# ----- expectations ----------------------------------------------------------------------------

@attrs.define
class Expectation:
    """What one ReplicaSet (``owner_uid``) waits to observe, set at tick ``since``."""

    owner_uid: str
    since: int
    adds: int = 0
    deletes: int = 0
    deleting: set[str] = attrs.field(factory=set)  # pod keys whose deletion we wait for

    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.deletes <= 0


class Expectations:
    """ControllerExpectations with UID tracking of deletes, keyed by ReplicaSet namespace/name."""

    def __init__(self, ttl_ticks: int = EXPECTATIONS_TTL_TICKS) -> None:
        self.ttl_ticks = ttl_ticks
        self.records: dict[str, Expectation] = {}

    def satisfied(self, key: str, now: int) -> bool:
        record = self.records.get(key)
        return record is None or record.fulfilled() or self.expired(record, now)

    def expired(self, record: Expectation, now: int) -> bool:
        return now - record.since > self.ttl_ticks

    def expect_creations(self, key: str, owner_uid: str, count: int, now: int) -> None:
        self.records[key] = Expectation(owner_uid, now, adds=count)

    def expect_deletions(self, key: str, owner_uid: str, pod_keys: list[str], now: int) -> None:
        self.records[key] = Expectation(owner_uid, now, deletes=len(set(pod_keys)), deleting=set(pod_keys))

    def creation_observed(self, key: str, owner_uid: str) -> None:
        record = self.records.get(key)
        if record is not None and record.owner_uid == owner_uid:
            record.adds -= 1

    def deletion_observed(self, key: str, owner_uid: str, pod_key: str) -> None:
        record = self.records.get(key)
        if record is not None and record.owner_uid == owner_uid and pod_key in record.deleting:
            record.deleting.discard(pod_key)
            record.deletes -= 1

    def lower_creations(self, key: str, count: int) -> None:
        record = self.records.get(key)
        if record is not None:
            record.adds -= count

    def forget(self, key: str) -> None:
        self.records.pop(key, None)


# ----- which ReplicaSets a pod event concerns -----------------------------------------------------

def replica_sets_for_pod(pod: dict[str, Any], cache: Cache) -> list[Request]:
    """Its controller ReplicaSet (same UID), or for an orphan every ReplicaSet selecting it."""
    return owners_to_wake(pod, cache, "replicasets")


# ----- which pods to delete first ------------------------------------------------------------

def _log2_bucket(since: int, now: int) -> int:
    elapsed = now - since
    return int(math.log2(elapsed)) if elapsed > 0 else -1


def _max_restarts(pod: dict[str, Any]) -> int:
    return max((s.get("restartCount") or 0 for s in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _created(pod: dict[str, Any]) -> int | None:
    try:
        return tick_of(meta(pod).get("creationTimestamp") or "")
    except ValueError:
        return None


def _by_uid(one: dict[str, Any], other: dict[str, Any]) -> int:
    """The last word, for a deterministic order: UID, then name."""
    keys = [(meta(p).get("uid", ""), meta(p).get("name", "")) for p in (one, other)]
    return (keys[0] > keys[1]) - (keys[0] < keys[1])


def _by_time(one: dict[str, Any], other: dict[str, Any], time: Callable[[dict[str, Any]], int | None], now: int) -> int:
    """Rules 6 and 8: the later (or unknown) time first; two times in the same log2 bucket of
    age are settled by UID (kube's LogarithmicScaleDown); equal times decide nothing."""
    one_time, other_time = time(one), time(other)
    if one_time == other_time:
        return 0
    if one_time is None or other_time is None:
        return -1 if one_time is None else 1
    return _log2_bucket(one_time, now) - _log2_bucket(other_time, now) or _by_uid(one, other)


def deletion_order(pods: list[dict[str, Any]], ranks: dict[str, int], now: int) -> list[dict[str, Any]]:
    """ActivePodsWithRanks: the pods, those to delete first first (deterministic)."""
    def compare(one: dict[str, Any], other: dict[str, Any]) -> int:
        node_one, node_other = (one.get("spec") or {}).get("nodeName") or "", (other.get("spec") or {}).get("nodeName") or ""
        if node_one != node_other and not (node_one and node_other):
            return -1 if not node_one else 1
        phases = [PHASE_ORDINAL.get((p.get("status") or {}).get("phase"), 0) for p in (one, other)]
        if phases[0] != phases[1]:
            return phases[0] - phases[1]
        if pod_is_ready(one) != pod_is_ready(other):
            return -1 if not pod_is_ready(one) else 1
        rank_one, rank_other = ranks.get(meta(one)["uid"], 0), ranks.get(meta(other)["uid"], 0)
        if rank_one != rank_other:
            return rank_other - rank_one
        if pod_is_ready(one) and pod_is_ready(other):
            by_ready = _by_time(one, other, pod_ready_since, now)
            if by_ready:
                return by_ready
        if _max_restarts(one) != _max_restarts(other):
            return _max_restarts(other) - _max_restarts(one)
        return _by_time(one, other, _created, now) or _by_uid(one, other)

    return sorted(pods, key=functools.cmp_to_key(compare))


# ----- the controller ---------------------------------------------------------------------------

class ReplicaSetController:
    name = "replicaset"
    watches = (Watch("replicasets"), Watch("pods", enqueue=replica_sets_for_pod))
    burst_replicas = BURST_REPLICAS
    initial_batch = SLOW_START_INITIAL_BATCH

    def __init__(self, *, clock: Callable[[], int], expectations_ttl_ticks: int = EXPECTATIONS_TTL_TICKS) -> None:
        self.clock = clock
        self.expectations = Expectations(expectations_ttl_ticks)

    # ----- informer events: expectations are lowered here -------------------------------------

    def observe(self, resource: str, change: str, old: Any, new: Any) -> None:
        old = old.object if isinstance(old, DeletedFinalStateUnknown) else old
        if resource == "replicasets":
            self.replica_set_event(change, old, new)
        elif resource == "pods":
            self.pod_event(change, old, new)

    def replica_set_event(self, change: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """deleteRS (and updateRS seeing another UID): a new ReplicaSet of the name starts clean."""
        if change == "delete" or (change == "update" and meta(old).get("uid") != meta(new).get("uid")):
            self.expectations.forget(key_of(old))

    def pod_event(self, change: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if change == "delete":
            self.pod_gone(old)
        elif meta(new).get("deletionTimestamp"):
            if change == "add" or meta(old).get("resourceVersion") != meta(new).get("resourceVersion"):
                self.pod_gone(new)
        elif change == "add":
            ref = controller_owner(new)
            if ref is not None and ref.get("kind") == "ReplicaSet":
                self.expectations.creation_observed(self.owner_key(new, ref), ref.get("uid", ""))

    def pod_gone(self, pod: dict[str, Any]) -> None:
        ref = controller_owner(pod)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            self.expectations.deletion_observed(self.owner_key(pod, ref), ref.get("uid", ""), key_of(pod))

    @staticmethod
    def owner_key(pod: dict[str, Any], ref: dict[str, Any]) -> str:
        return f"{meta(pod).get('namespace', '')}/{ref.get('name', '')}"

    # ----- reconcile --------------------------------------------------------------------------

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Generator[Call, Answer, Result]:
        key = f"{request.namespace}/{request.name}"
        rs = cache.get("replicasets", request.namespace, request.name)
        if rs is None:
            self.expectations.forget(key)
            return Result()
        try:
            result = yield from self.sync(key, rs, cache, client)
        except WriteRefused:
            return Result(requeue=True)
        return result

    def sync(self, key: str, rs: dict[str, Any], cache: Cache, client: Client) -> Generator[Call, Answer, Result]:
        needs_sync = self.expectations_satisfied(key)
        candidates = [pod for pod in cache.list("pods", meta(rs)["namespace"]) if pod_is_active(pod)]
        pods = yield from claim(rs, "replicasets", "pods", candidates, self.selector(rs), client)
        failed = False
        if needs_sync and not meta(rs).get("deletionTimestamp"):
            failed = yield from self.manage_replicas(key, rs, pods, cache, client)
        status = self.calculate_status(rs, pods)
        if self.status_changed(rs, status):
            yield from self.update_status(rs, status, client)
        if failed:
            return Result(requeue=True)
        return self.recheck_availability(rs, pods)

    def expectations_satisfied(self, key: str) -> bool:
        return self.expectations.satisfied(key, self.clock())

    @staticmethod
    def selector(rs: dict[str, Any]) -> dict[str, Any]:
        return (rs.get("spec") or {}).get("selector") or {}

    @staticmethod
    def desired(rs: dict[str, Any]) -> int:
        return int((rs.get("spec") or {}).get("replicas", 1))

    def manage_replicas(self, key: str, rs: dict[str, Any], pods: list[dict[str, Any]], cache: Cache,
                        client: Client) -> Generator[Call, Answer, bool]:
        """Create or delete toward ``spec.replicas``; True if a write failed."""
        diff = len(pods) - self.desired(rs)
        if diff < 0:
            result = yield from self.create_pods(key, rs, min(-diff, self.burst_replicas), client)
            return result
        if diff > 0:
            result = yield from self.delete_pods(key, rs, pods, min(diff, self.burst_replicas), cache, client)
            return result
        return False

    def create_pods(self, key: str, rs: dict[str, Any], count: int, client: Client) -> Generator[Call, Answer, bool]:
        self.expectations.expect_creations(key, meta(rs)["uid"], count, self.clock())
        created, failed = 0, False
        template = (rs.get("spec") or {}).get("template") or {}
        for batch in self.batches(count):
            answers = yield tuple(client.create("pods", pod_from_template(template, rs)) for _ in range(batch))
            for answer in answers:
                if answer.ok or answer.namespace_terminating:
                    created += 1
                else:
                    failed = True
            if failed:
                break
        if created < count:
            self.expectations.lower_creations(key, count - created)
        return failed

    def batches(self, count: int) -> list[int]:
        """slowStartBatch's sizes: initial_batch, then doubling, summing to ``count``."""
        sizes, remaining, size = [], count, min(count, self.initial_batch)
        while size > 0:
            sizes.append(size)
            remaining -= size
            size = min(2 * size, remaining)
        return sizes

    def delete_pods(self, key: str, rs: dict[str, Any], pods: list[dict[str, Any]], count: int, cache: Cache,
                    client: Client) -> Generator[Call, Answer, bool]:
        victims = self.pods_to_delete(rs, pods, count, cache)
        self.expectations.expect_deletions(key, meta(rs)["uid"], [key_of(p) for p in victims], self.clock())
        failed = False
        if not victims:
            return failed
        answers = yield tuple(client.delete("pods", meta(pod)["namespace"], meta(pod)["name"]) for pod in victims)
        for pod, answer in zip(victims, answers):
            if not answer.ok:
                self.expectations.deletion_observed(key, meta(rs)["uid"], key_of(pod))
                failed = failed or not answer.not_found
        return failed

    def pods_to_delete(self, rs: dict[str, Any], pods: list[dict[str, Any]], count: int,
                       cache: Cache) -> list[dict[str, Any]]:
        if count >= len(pods):
            return pods[:count]
        return deletion_order(pods, self.colocation_ranks(rs, pods, cache), self.clock())[:count]

    def colocation_ranks(self, rs: dict[str, Any], pods: list[dict[str, Any]], cache: Cache) -> dict[str, int]:
        """getPodsRankedByRelatedPodsOnSameNode: for each pod, how many active pods of the
        ReplicaSets with the same controller as ours run on its node."""
        related = self.related_pods(rs, cache)
        per_node: dict[str, int] = {}
        for pod in related:
            if pod_is_active(pod):
                node = (pod.get("spec") or {}).get("nodeName") or ""
                per_node[node] = per_node.get(node, 0) + 1
        return {meta(p)["uid"]: per_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods}

    def related_pods(self, rs: dict[str, Any], cache: Cache) -> list[dict[str, Any]]:
        ref = controller_owner(rs)
        if ref is None:
            return []
        namespace, seen, related = meta(rs)["namespace"], set(), []
        siblings = sorted((r for r in cache.list("replicasets", namespace) if controlled_by(r, ref.get("uid", ""))),
                          key=lambda r: meta(r)["name"])
        pods = cache.list("pods", namespace)  # once: the cache cannot change while this runs
        for sibling in siblings:
            for pod in pods:
                if meta(pod)["uid"] not in seen and selector_matches(self.selector(sibling), meta(pod).get("labels")):
                    seen.add(meta(pod)["uid"])
                    related.append(pod)
        return related

    # ----- status -------------------------------------------------------------------------

    def calculate_status(self, rs: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
        template_labels = (meta((rs.get("spec") or {}).get("template") or {}).get("labels")) or {}
        min_ready, now = int((rs.get("spec") or {}).get("minReadySeconds") or 0), self.clock()
        status = dict(rs.get("status") or {})
        status.update({
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for p in pods if self.fully_labeled(template_labels, p)),
            "readyReplicas": sum(1 for p in pods if pod_is_ready(p)),
            "availableReplicas": sum(1 for p in pods if self.available(p, min_ready, now)),
            "observedGeneration": int(meta(rs).get("generation") or 0),
        })
        return status

    @staticmethod
    def fully_labeled(template_labels: dict[str, str], pod: dict[str, Any]) -> bool:
        labels = meta(pod).get("labels") or {}
        return all(labels.get(k) == v for k, v in template_labels.items())

    @staticmethod
    def available(pod: dict[str, Any], min_ready_seconds: int, now: int) -> bool:
        return pod_is_available(pod, min_ready_seconds, now)

    @staticmethod
    def status_changed(rs: dict[str, Any], status: dict[str, Any]) -> bool:
        return normalized(rs.get("status") or {}) != normalized(status)

    def update_status(self, rs: dict[str, Any], status: dict[str, Any], client: Client) -> Generator[Call, Answer, None]:
        """updateReplicaSetStatus: a refused write is tried once more on a fresh read (the
        cache often lags our own last status write); then the reconcile requeues."""
        for attempt in range(1 + STATUS_UPDATE_RETRIES):
            rs = {**rs, "status": status}
            answer = yield client.update_status("replicasets", rs)
            if answer.ok:
                return
            if attempt == STATUS_UPDATE_RETRIES:
                raise WriteRefused(f"update status of replicasets {key_of(rs)}", answer)
            rs = yield from self.fresh(rs, client)

    @staticmethod
    def fresh(rs: dict[str, Any], client: Client) -> Generator[Call, Answer, dict[str, Any]]:
        """A quorum read of the same ReplicaSet (WriteRefused if it is gone or another)."""
        answer = yield client.get("replicasets", meta(rs)["namespace"], meta(rs)["name"])
        if answer.object is None or meta(answer.object).get("uid") != meta(rs)["uid"]:
            raise WriteRefused(f"get replicasets {key_of(rs)}", answer)
        return answer.object

    def recheck_availability(self, rs: dict[str, Any], pods: list[dict[str, Any]]) -> Result:
        """Run again when the next ready pod turns available (kube enqueues after
        minReadySeconds when a pod becomes ready)."""
        min_ready, now = int((rs.get("spec") or {}).get("minReadySeconds") or 0), self.clock()
        upcoming = [at for at in (pod_available_at(p, min_ready) for p in pods) if at is not None and at > now]
        return Result(requeue_after=min(upcoming) - now) if upcoming else Result()
