"""The Job controller: runs a Job's pods until ``completions`` of them succeeded, at most
``parallelism`` at a time, and gives up when more than ``backoffLimit`` failed.

Sources: kube ``pkg/controller/job/job_controller.go`` (``syncJob``, ``manageJob``,
``trackJobStatusAndRemoveFinalizers``, ``flushUncountedAndRemoveFinalizers``,
``cleanUncountedPodsWithoutFinalizers``, ``canRemoveFinalizer``, ``isPodFailed``,
``activePodsForRemoval``), ``backoff_utils.go``, ``pkg/controller/controller_utils.go``
(``ControllerExpectations``, ``FilterActivePods``) and the Job concepts page ("Job tracking with
finalizers", "Pod backoff failure policy"). The rules kept (completionMode NonIndexed):

- Pods are created from the template with ``generateName: <job>-``, the labels
  ``batch.kubernetes.io/job-name``, ``batch.kubernetes.io/controller-uid`` (and the older
  ``job-name``, ``controller-uid``), a controller ownerReference to the Job (blockOwnerDeletion)
  and the finalizer ``batch.kubernetes.io/job-tracking``. A Job's pods are those whose
  controller reference names its UID.
- Active pods are those neither Succeeded nor Failed nor being deleted. The controller wants
  ``min(parallelism, completions - succeeded)`` of them: it deletes the surplus (the least
  advanced first: unscheduled, then pending, then not ready) or creates the shortfall, never both
  in one sync; it creates only after the pod failure backoff (10 s doubling per failure since the
  last success, at most 10 min) has passed since the last failure it saw.
- Counting is crash-safe through the finalizer: a finished pod (Succeeded; Failed, or being
  deleted without having succeeded) that still holds the finalizer is first recorded by UID in
  ``status.uncountedTerminatedPods`` (a status write), then its finalizer is removed (a pod
  patch), then the UIDs whose pods no longer hold it move into ``status.succeeded`` and
  ``status.failed`` (a second status write). A crash anywhere repeats a step, never double
  counts and never loses a pod: a pod cannot vanish before its UID is written down.
- ``failed > backoffLimit`` finishes the Job: the active pods are deleted and, once nothing is
  uncounted, condition ``Failed`` (reason ``BackoffLimitExceeded``) is set. ``succeeded >=
  completions`` with no pod active sets ``Complete`` and ``completionTime``. Once the Job is
  finished, each pod released that had not Succeeded counts as failed (kube 1.27-1.30), a pod
  it deleted on completion included. A finished Job is left alone. ``startTime`` is set at the first sync.
- Expectations, as ReplicaSet's: after issuing creates or deletes the Job is not managed again
  until the informer has shown them (an add lowers the creations expected, a pod being deleted
  or gone the deletions), or 5 minutes passed. Kept to counts per Job UID. And, as kube's
  ``finalizerExpectations`` (``uidTrackingExpectations``), the UIDs of the pods whose finalizer
  this controller removed and whose informer has not shown it yet: such a pod was counted in an
  earlier sync and is not counted again, however stale the cache that still shows its
  finalizer (without them, a status that moved its UID out of ``uncountedTerminatedPods`` and a
  pod cache a tick behind count it twice).
- Pods of a Job that is gone, or whose controller reference names another UID, lose their
  tracking finalizer (kube's orphan queue), so the garbage collector can delete them.

Left out, and why: Indexed completion, ``podFailurePolicy``, ``backoffLimitPerIndex``,
``successPolicy``, ``suspend``, ``activeDeadlineSeconds``, ``ttlSecondsAfterFinished``, the
``podReplacementPolicy`` and ``status.terminating``, and the interim conditions
``SuccessCriteriaMet`` and ``FailureTarget`` (1.31+): not in this project's scope; adopting
orphans by ``spec.selector`` (the API server here does not generate a Job's selector, so pods
are found by their controller reference); the slow-start batches of creates (creates go one by
one and stop at the first failure, which is what the batches converge to); events and metrics.

The reconcile interface gives no clock, so the controller takes one (``clock() -> tick``), as
kube's does; its memory (expectations, backoff records) lasts as long as the process: the host
starts every term with fresh copies of its reconcilers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.objectmeta import timestamp
from impl.controllers.api import Cache, Client, Request, Result, Watch, controller_owner
from impl.controllers.api import meta as _meta
from impl.controllers.informer import DeletedFinalStateUnknown

__all__ = ["JobController", "Expectations", "TRACKING_FINALIZER", "JOB_NAME_LABEL", "CONTROLLER_UID_LABEL",
           "BACKOFF_LIMIT_EXCEEDED", "BACKOFF_LIMIT_MESSAGE",
           "EXPECTATIONS_TIMEOUT_TICKS", "POD_FAILURE_BACKOFF_TICKS", "POD_FAILURE_BACKOFF_MAX_TICKS"]

Clock = Callable[[], int]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL = "job-name", "controller-uid"
EXPECTATIONS_TIMEOUT_TICKS = 300  # ExpectationsTimeout, 5 min
POD_FAILURE_BACKOFF_TICKS = 10  # DefaultJobPodFailureBackOff
POD_FAILURE_BACKOFF_MAX_TICKS = 600  # MaxJobPodFailureBackOff, 10 min
TERMINAL = ("Succeeded", "Failed")
BACKOFF_LIMIT_EXCEEDED, BACKOFF_LIMIT_MESSAGE = "BackoffLimitExceeded", "Job has reached the specified backoff limit"


def _phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase", "")


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def has_finalizer(pod: dict[str, Any]) -> bool:
    return TRACKING_FINALIZER in (_meta(pod).get("finalizers") or ())


def _job_owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    ref = controller_owner(pod)
    return ref if ref is not None and ref.get("kind") == "Job" else None


def _job_of_pod(pod: dict[str, Any], cache: Cache) -> list[Request]:
    """Any pod whose controller is a Job wakes that Job's key, even if the Job is gone or
    re-created (the reconcile compares UIDs and releases orphans); so does a pod with no
    controller that still holds the tracking finalizer, by its job-name label (kube's updatePod
    sends such an orphan to its orphan queue: a Job deleted with propagationPolicy Orphan leaves
    its pods without an owner, and one deleted later would stay Terminating for ever)."""
    ref = _job_owner(pod)
    if ref is not None:
        return [Request(_meta(pod).get("namespace", ""), ref.get("name", ""))]
    name = (_meta(pod).get("labels") or {}).get(JOB_NAME_LABEL)
    if name and controller_owner(pod) is None and has_finalizer(pod):
        return [Request(_meta(pod).get("namespace", ""), name)]
    return []


# ----- expectations and backoff ------------------------------------------------------------------

@attrs.define
class Expectation:
    creations: int
    deletions: int
    set_tick: int


class Expectations:
    """ControllerExpectations, by Job UID: what was asked for and not yet seen."""

    def __init__(self) -> None:
        self.pending: dict[str, Expectation] = {}

    def satisfied(self, uid: str, now: int) -> bool:
        expected = self.pending.get(uid)
        if expected is None:
            return True
        fulfilled = expected.creations <= 0 and expected.deletions <= 0
        return fulfilled or now - expected.set_tick > EXPECTATIONS_TIMEOUT_TICKS

    def expect(self, uid: str, creations: int, deletions: int, now: int) -> None:
        self.pending[uid] = Expectation(creations, deletions, now)

    def creation_observed(self, uid: str) -> None:
        if uid in self.pending:
            self.pending[uid].creations -= 1

    def deletion_observed(self, uid: str) -> None:
        if uid in self.pending:
            self.pending[uid].deletions -= 1

    def forget(self, uid: str) -> None:
        self.pending.pop(uid, None)


@attrs.define
class Backoff:
    """backoffRecord: failures since the last success, and when the last one was seen."""

    failures: int = 0
    last_failure_tick: int = 0


# ----- one sync's view of a Job ------------------------------------------------------------------

@attrs.define
class JobView:
    job: dict[str, Any]
    pods: list[dict[str, Any]]
    active: list[dict[str, Any]]
    new_succeeded: list[dict[str, Any]]
    new_failed: list[dict[str, Any]]
    succeeded: int
    failed: int
    before: dict[str, Any]  # the status as read
    finished: dict[str, Any] | None = None  # the Complete or Failed condition to reach

    @property
    def status(self) -> dict[str, Any]:
        return self.job.setdefault("status", {})

    @property
    def uncounted(self) -> dict[str, list[str]]:
        uncounted = self.status.setdefault("uncountedTerminatedPods", {})
        uncounted.setdefault("succeeded", [])
        uncounted.setdefault("failed", [])
        return uncounted


class JobController:
    name = "job"
    watches = (Watch("jobs"), Watch("pods", enqueue=_job_of_pod))

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.expectations = Expectations()
        self.backoff: dict[str, Backoff] = {}
        self.removed: dict[str, set[str]] = {}  # Job uid -> pods whose finalizer removal is not yet seen

    # ----- events ----------------------------------------------------------------------------------

    def observe(self, resource: str, change: str, old: Any, new: Any) -> None:
        """Lower expectations from pod events (addPod, updatePod, deletePod)."""
        if resource != "pods":
            return
        old = old.object if isinstance(old, DeletedFinalStateUnknown) else old
        pod = new if new is not None else old
        ref = _job_owner(pod) if isinstance(pod, dict) else None
        if ref is None:
            return
        if change == "delete" or not has_finalizer(pod):
            self.removed.get(ref.get("uid", ""), set()).discard(_meta(pod).get("uid"))
        if change == "delete" or _meta(pod).get("deletionTimestamp"):
            if change != "update" or _meta(old).get("resourceVersion") != _meta(new).get("resourceVersion"):
                self.expectations.deletion_observed(ref.get("uid", ""))
        elif change == "add":
            self.expectations.creation_observed(ref.get("uid", ""))

    # ----- the sync ------------------------------------------------------------------------------

    def reconcile(self, request: Request, cache: Cache, client: Client):
        job = cache.get("jobs", request.namespace, request.name)
        uid = _meta(job).get("uid", "") if job is not None else ""
        released = yield from self.release_orphans(request, uid, cache, client)
        if job is None or self.finished(job):
            self.backoff.pop(uid, None)
            self.removed.pop(uid, None)
            return Result() if released else Result(requeue=True)
        now = self.clock()
        satisfied = self.expectations.satisfied(uid, now)
        view = self.view(job, cache)
        self.status_start(view, now)
        if self.past_backoff_limit(view):
            view.finished = self.condition("Failed", BACKOFF_LIMIT_EXCEEDED, BACKOFF_LIMIT_MESSAGE, now)
        result = Result()
        if view.finished is not None:
            deleted = yield from self.delete_pods(view.job, view.active, client)
            if deleted != len(view.active) or not satisfied:
                view.finished = None
            view.active = view.active[deleted:]
        else:
            if satisfied and not _meta(job).get("deletionTimestamp"):
                result = yield from self.manage(view, client, now)
            if view.succeeded >= self.spec(job, "completions", 1) and not view.active:
                view.finished = self.condition("Complete", "", "", now)
        tracked = yield from self.track_and_remove_finalizers(view, client, now)
        return result if tracked and released else Result(requeue=True)

    @staticmethod
    def spec(job: dict[str, Any], field: str, default: int) -> int:
        value = (job.get("spec") or {}).get(field)
        return default if value is None else value

    @staticmethod
    def finished(job: dict[str, Any]) -> bool:
        """IsJobFinished: a Complete or Failed condition that is True."""
        return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                   for c in (job.get("status") or {}).get("conditions") or ())

    @staticmethod
    def is_failed(pod: dict[str, Any]) -> bool:
        """isPodFailed: Failed, or being deleted without having succeeded."""
        return _phase(pod) == "Failed" or (bool(_meta(pod).get("deletionTimestamp")) and _phase(pod) != "Succeeded")

    @staticmethod
    def is_active(pod: dict[str, Any]) -> bool:
        return _phase(pod) not in TERMINAL and not _meta(pod).get("deletionTimestamp")

    def pods_of(self, job: dict[str, Any], cache: Cache) -> list[dict[str, Any]]:
        uid = _meta(job).get("uid")
        pods = [pod for pod in cache.owned_by("pods", uid) if (_job_owner(pod) or {}).get("uid") == uid]
        return sorted(pods, key=lambda pod: _meta(pod).get("name", ""))

    def view(self, job: dict[str, Any], cache: Cache) -> JobView:
        pods = self.pods_of(job, cache)
        status = job.get("status") or {}
        uncounted = status.get("uncountedTerminatedPods") or {}
        counted_succeeded, counted_failed = set(uncounted.get("succeeded") or ()), set(uncounted.get("failed") or ())
        tracked = [pod for pod in pods if self.tracking(job, pod)]
        new_succeeded = [p for p in tracked if _phase(p) == "Succeeded" and _meta(p)["uid"] not in counted_succeeded]
        new_failed = [p for p in tracked if self.is_failed(p) and _meta(p)["uid"] not in counted_failed]
        return JobView(job, pods, [p for p in pods if self.is_active(p)], new_succeeded, new_failed,
                       status.get("succeeded", 0) + len(new_succeeded) + len(counted_succeeded),
                       status.get("failed", 0) + len(new_failed) + len(counted_failed), copy.deepcopy(status))

    def past_backoff_limit(self, view: JobView) -> bool:
        return view.failed > self.spec(view.job, "backoffLimit", 6)

    @staticmethod
    def status_start(view: JobView, now: int) -> None:
        view.status.setdefault("startTime", timestamp(now))

    @staticmethod
    def condition(kind: str, reason: str, message: str, now: int) -> dict[str, Any]:
        condition = {"type": kind, "status": "True", "lastProbeTime": timestamp(now),
                     "lastTransitionTime": timestamp(now)}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        return condition

    # ----- managing the active pods ------------------------------------------------------------

    def wanted_active(self, view: JobView) -> int:
        completions, parallelism = self.spec(view.job, "completions", 1), self.spec(view.job, "parallelism", 1)
        return max(0, min(parallelism, completions - view.succeeded))

    @staticmethod
    def removal_order(pod: dict[str, Any]) -> tuple:
        """controller.ActivePods: unscheduled < scheduled, Pending < Running, not ready < ready."""
        phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(_phase(pod), 0)
        return (bool((pod.get("spec") or {}).get("nodeName")), phase_rank, _ready(pod), _meta(pod).get("name", ""))

    def manage(self, view: JobView, client: Client, now: int):
        uid = _meta(view.job)["uid"]
        surplus = len(view.active) - self.wanted_active(view)
        if surplus > 0:
            doomed = sorted(view.active, key=self.removal_order)[:surplus]
            self.expectations.expect(uid, 0, len(doomed), now)
            deleted = yield from self.delete_pods(view.job, doomed, client)
            view.active = [p for p in view.active if p not in doomed[:deleted]]
            return Result() if deleted == len(doomed) else Result(requeue=True)
        shortfall = -surplus
        if shortfall <= 0:
            return Result()
        wait = self.backoff_left(uid, now)
        if wait > 0:
            return Result(requeue_after=wait)
        self.expectations.expect(uid, shortfall, 0, now)
        for created in range(shortfall):
            answer = yield client.create("pods", self.new_pod(view.job))
            if answer.object is None:
                for _ in range(shortfall - created):  # this one and the ones never tried
                    self.expectations.creation_observed(uid)
                return Result(requeue=True)
            view.active.append(answer.object)
        return Result()

    def new_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        meta, template = _meta(job), (job.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}), JOB_NAME_LABEL: meta["name"],
                  CONTROLLER_UID_LABEL: meta["uid"], LEGACY_JOB_NAME_LABEL: meta["name"],
                  LEGACY_CONTROLLER_UID_LABEL: meta["uid"]}
        pod_meta = {"generateName": f"{meta['name']}-", "namespace": meta["namespace"], "labels": labels,
                    "finalizers": [*(template_meta.get("finalizers") or []), TRACKING_FINALIZER],
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                         "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]}
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}

    def delete_pods(self, job: dict[str, Any], pods: list[dict[str, Any]], client: Client):
        """Delete in order; how many were deleted before the first failure (gone counts)."""
        uid = _meta(job)["uid"]
        for deleted, pod in enumerate(pods):
            meta = _meta(pod)
            answer = yield client.delete("pods", meta["namespace"], meta["name"], uid=meta.get("uid", ""))
            if not answer.ok:
                self.expectations.deletion_observed(uid)
                if not answer.not_found:
                    return deleted
        return len(pods)

    # ----- backoff -----------------------------------------------------------------------------

    def backoff_left(self, uid: str, now: int) -> int:
        """getRemainingTime: 10 s doubling per failure since the last success, capped, counted
        from the last failure seen."""
        record = self.backoff.get(uid)
        if record is None or record.failures == 0:
            return 0
        delay = min(POD_FAILURE_BACKOFF_TICKS * 2 ** (record.failures - 1), POD_FAILURE_BACKOFF_MAX_TICKS)
        return max(0, record.last_failure_tick + delay - now)

    def record_finished(self, view: JobView, now: int) -> None:
        """newBackoffRecord/updateBackoffRecord, once the new finished pods are written down."""
        if not view.new_succeeded and not view.new_failed:
            return
        record = self.backoff.setdefault(_meta(view.job)["uid"], Backoff())
        if view.new_succeeded:
            record.failures = 0
        if view.new_failed:
            record.failures += len(view.new_failed)
            record.last_failure_tick = now

    # ----- counting through the tracking finalizer ---------------------------------------------

    def tracking(self, job: dict[str, Any], pod: dict[str, Any]) -> bool:
        """The pod holds the tracking finalizer, as far as this controller knows: its cache may
        still show one it removed (and counted) in an earlier sync."""
        return has_finalizer(pod) and _meta(pod).get("uid") not in self.removed.get(_meta(job).get("uid", ""), ())

    def can_remove_finalizer(self, view: JobView, pod: dict[str, Any]) -> bool:
        if _meta(view.job).get("deletionTimestamp") or view.finished is not None:
            return True
        return _phase(pod) == "Succeeded" or self.is_failed(pod)

    def record_uncounted(self, view: JobView) -> tuple[list[dict[str, Any]], bool]:
        """Step 1: the finished pods whose finalizer may go, their UIDs added to
        ``uncountedTerminatedPods``; and whether that changed the status."""
        uncounted, changed, releasing = view.uncounted, False, []
        # When the Job is finished every pod not Succeeded is counted as failed: kube 1.27-1.30's
        # trackJobStatusAndRemoveFinalizers (finishedCond != nil). A pod the Job deleted because it
        # met its completions may still read Running in the cache (its deletion not seen yet), and
        # its finalizer goes now: counted as nothing, it would be lost from the status.
        finishing = view.finished is not None
        for pod in view.pods:
            if not self.tracking(view.job, pod) or not self.can_remove_finalizer(view, pod):
                continue
            releasing.append(pod)
            uid = _meta(pod)["uid"]
            if _phase(pod) == "Succeeded" and uid not in uncounted["failed"]:
                if uid not in uncounted["succeeded"]:
                    uncounted["succeeded"].append(uid)
                    changed = True
            elif (self.is_failed(pod) or finishing) and uid not in uncounted["failed"]:
                uncounted["failed"].append(uid)
                changed = True
        return releasing, changed

    @staticmethod
    def count_released(view: JobView, holding: set[str]) -> bool:
        """cleanUncountedPodsWithoutFinalizers: UIDs whose pod no longer holds the finalizer
        (or is gone) move into the counters; whether anything moved."""
        status, uncounted, moved = view.status, view.uncounted, False
        for outcome in ("succeeded", "failed"):
            still = [uid for uid in uncounted[outcome] if uid in holding]
            if len(still) != len(uncounted[outcome]):
                status[outcome] = status.get(outcome, 0) + len(uncounted[outcome]) - len(still)
                uncounted[outcome] = still
                moved = True
        return moved

    @staticmethod
    def status_changed(view: JobView) -> bool:
        ready = sum(1 for pod in view.active if _ready(pod))
        view.status["active"], view.status["ready"] = len(view.active), ready
        return any(view.status.get(field) != view.before.get(field) for field in ("active", "ready", "startTime"))

    def track_and_remove_finalizers(self, view: JobView, client: Client, now: int):
        """trackJobStatusAndRemoveFinalizers; whether every write went through."""
        holding = {_meta(p)["uid"] for p in view.pods if self.tracking(view.job, p)}
        flush = self.status_changed(view) | self.count_released(view, holding)
        releasing, recorded = self.record_uncounted(view)
        if flush or recorded:
            if not (yield from self.write_status(view, client)):
                return False
            self.record_finished(view, now)
        everything = yield from self.remove_finalizers(view, releasing, holding, client)
        flush = self.count_released(view, holding)
        if self.enact_finished(view):
            flush = True
        if flush and not (yield from self.write_status(view, client)):
            return False
        return everything

    def remove_finalizers(self, view: JobView, releasing: list[dict[str, Any]], holding: set[str], client: Client):
        """Step 2: each releasing pod's finalizer removed (and no longer ``holding``, and
        remembered as removed); whether every removal went through."""
        everything = True
        for pod in releasing:
            if (yield from self.remove_finalizer(pod, client)):
                holding.discard(_meta(pod)["uid"])
                self.removed.setdefault(_meta(view.job)["uid"], set()).add(_meta(pod)["uid"])
            else:
                everything = False
        return everything

    @staticmethod
    def enact_finished(view: JobView) -> bool:
        """The Complete or Failed condition, once no pod is left uncounted."""
        if view.finished is None or view.uncounted["succeeded"] or view.uncounted["failed"]:
            return False
        view.status.setdefault("conditions", []).append(view.finished)
        if view.finished["type"] == "Complete":
            view.status["completionTime"] = view.finished["lastTransitionTime"]
        return True

    @staticmethod
    def write_status(view: JobView, client: Client):
        answer = yield client.update_status("jobs", view.job)
        if answer.object is None:
            return False
        view.job["metadata"]["resourceVersion"] = _meta(answer.object).get("resourceVersion", "")
        return True

    # ----- orphans ---------------------------------------------------------------------------------

    def release_orphans(self, request: Request, uid: str, cache: Cache, client: Client):
        """Pods labelled with this Job's name whose controller is a Job of this name but not this
        Job (gone, or re-created with another UID), or that have no controller at all (kube's
        syncOrphanPod), lose the tracking finalizer; whether all were released."""
        everything = True
        for pod in cache.list("pods", request.namespace, {"matchLabels": {JOB_NAME_LABEL: request.name}}):
            ref = _job_owner(pod)
            another_job = ref is not None and ref.get("name") == request.name and ref.get("uid") != uid
            if not has_finalizer(pod) or not (another_job or controller_owner(pod) is None):
                continue
            released = yield from self.remove_finalizer(pod, client)
            everything = everything and released
        return everything

    @staticmethod
    def remove_finalizer(pod: dict[str, Any], client: Client):
        """removeTrackingFinalizerPatch; whether it is gone (a pod gone counts)."""
        meta = _meta(pod)
        answer = yield client.patch("pods", meta["namespace"], meta["name"], {
            "metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}, "strategic")
        return answer.ok or answer.not_found
