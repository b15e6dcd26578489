"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets it owns.

Source: kube ``pkg/controller/deployment`` (``deployment_controller.go`` ``syncDeployment``,
``sync.go``, ``rolling.go``, ``recreate.go``, ``progress.go``) and ``deployment/util``
(``deployment_util.go``). Rules kept:

- A reconcile claims the namespace's ReplicaSets by the Deployment's selector (adopt orphans,
  release its own that stopped matching; owners by UID). A Deployment being deleted only gets
  its status. Then, in kube's order: the paused condition; paused -> ``sync`` (scaling only,
  no rollout); a scaling event (an active ReplicaSet's desired-replicas annotation differs from
  ``spec.replicas``) -> ``sync``; else the strategy's rollout.
- The new ReplicaSet is the oldest one whose template equals the Deployment's ignoring the
  ``pod-template-hash`` label; all others are old. A missing new ReplicaSet is created as
  ``<deployment>-<hash>`` (podtemplate.compute_hash of the template and
  ``status.collisionCount``), the hash in its template labels, labels and selector, the
  revision annotation ``max(old revisions) + 1`` and the desired-replicas and max-replicas
  annotations. AlreadyExists with someone else's ReplicaSet (or another template) is a hash
  collision: ``status.collisionCount`` grows and the reconcile requeues.
- Rollback is a template set back to an old ReplicaSet's: that ReplicaSet becomes the new one
  and gets a fresh revision (the old one goes to ``revision-history``); nothing is created.
- RollingUpdate: maxSurge rounds UP, maxUnavailable rounds DOWN, both 0 -> maxUnavailable 1
  (``resolve_fenceposts``), 25%/25% by default (the API server defaults them). Scale the new
  ReplicaSet up within replicas + maxSurge (all ReplicaSets' spec.replicas); if nothing was
  scaled up, scale old ones down: first unhealthy replicas (spec - available, oldest
  ReplicaSet first) within allPods - minAvailable - newUnavailable, then by available pods above
  replicas - maxUnavailable. Availability is what the ReplicaSets' statuses say; an old one whose
  status counts more available replicas than its spec (its controller has not yet reported its
  last scale-down) stops the scale-down of that sync, as kube's error in cleanupUnhealthyReplicas
  does.
- Recreate: scale every old ReplicaSet to 0, wait until no old pod runs, then create or scale
  the new one to ``spec.replicas``.
- Proportional scaling (``scale``) when replicas change mid-rollout (or while paused): the
  difference to replicas + maxSurge is shared among the active ReplicaSets in proportion to
  their size over their max-replicas annotation (rounded half away from zero), biggest first
  (newer first when scaling up, older first when scaling down), leftovers to the first.
- Cleanup: when a rollout is complete (or the Deployment is paused), old ReplicaSets beyond
  ``revisionHistoryLimit`` that have no replicas, none in status, and whose generation the
  ReplicaSet controller has observed are deleted, lowest revision first.
- Status (only written when it changed): replicas, updatedReplicas, readyReplicas,
  availableReplicas from the ReplicaSets' statuses, unavailableReplicas (spec replicas summed,
  minus available, at least 0), observedGeneration; conditions Available
  (MinimumReplicasAvailable / MinimumReplicasUnavailable against replicas - maxUnavailable) and
  Progressing (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated on progress,
  NewReplicaSetAvailable when complete, ProgressDeadlineExceeded when the condition's
  lastUpdateTime is older than progressDeadlineSeconds; DeploymentPaused / DeploymentResumed).
  A rollout that is neither complete nor timed out asks to run again when its deadline falls.

Left out: the deprecated rollbackTo annotation (kubectl rollout undo sets the template itself);
events; the ReplicaFailure condition; kube's pod handler (it queues a Recreate Deployment when
its last pod is deleted: here any event of a pod of a Recreate Deployment queues it, which is
more often, never less). Deviations: the Deployment's own revision annotation is written by a
metadata patch of the Deployment, since the reference API server keeps metadata unchanged in
status updates (kube's deployment status strategy lets annotations through); after each write
the reconcile continues from the object the server answered (kube continues from its copy and
retries on the conflict). Time comes from ``clock``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Generator
from typing import Any

from impl.apiserver.objectmeta import tick_of, timestamp
from impl.controllers.api import Answer, Cache, Call, Client, Request, Result, Watch, controller_owner
from impl.controllers.podtemplate import (
    POD_TEMPLATE_HASH_LABEL, WriteRefused, claim, compute_hash, controller_reference, controlled_by, meta, normalized,
    owners_to_wake, selector_matches, templates_equal_ignoring_hash, write,
)

__all__ = ["DeploymentController", "resolve_fenceposts", "value_from_int_or_percent", "deployments_for_replica_set",
           "REVISION", "REVISION_HISTORY", "DESIRED_REPLICAS", "MAX_REPLICAS"]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
              MAX_REPLICAS, "deprecated.deployment.rollback.to"}
REVISION_HISTORY_CHARS_MAX = 2000
INT32_MAX = 2**31 - 1

# Condition reasons (deployment_util.go)
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT, RS_CREATE_ERROR = "NewReplicaSetAvailable", "ProgressDeadlineExceeded", "ReplicaSetCreateError"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"


# ----- small readers ---------------------------------------------------------------------------

def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def replicas(obj: dict[str, Any] | None) -> int:
    return int(_spec(obj).get("replicas", 1)) if obj is not None else 0


def _status_count(obj: dict[str, Any] | None, field: str) -> int:
    return int(_status(obj).get(field) or 0) if obj is not None else 0


def _sum(rss: list[dict[str, Any] | None], count: Callable[[dict[str, Any] | None], int]) -> int:
    return sum(count(rs) for rs in rss if rs is not None)


def revision(rs: dict[str, Any]) -> int | None:
    """The revision annotation; 0 if absent, None if unreadable."""
    text = (meta(rs).get("annotations") or {}).get(REVISION)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        return None


def _created(obj: dict[str, Any]) -> tuple[int, str]:
    try:
        tick = tick_of(meta(obj).get("creationTimestamp") or "")
    except ValueError:
        tick = 0
    return tick, meta(obj).get("name", "")


def by_creation(rss: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ReplicaSetsByCreationTimestamp: oldest first, then by name."""
    return sorted(rss, key=_created)


def active(rss: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """FilterActiveReplicaSets: those with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# ----- maxSurge and maxUnavailable ------------------------------------------------------------

def value_from_int_or_percent(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (a missing value is 0)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; both 0 -> unavailable 1."""
    surge = value_from_int_or_percent(max_surge, desired, True)
    unavailable = value_from_int_or_percent(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling(d: dict[str, Any]) -> bool:
    return (_spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _fenceposts(d: dict[str, Any]) -> tuple[int, int]:
    rolling = (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas(d))


def max_surge(d: dict[str, Any]) -> int:
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict[str, Any]) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(_fenceposts(d)[1], replicas(d))


def _round_half_away(value: float) -> int:
    """integer.RoundToInt32."""
    return int(value - 0.5) if value < 0 else int(value + 0.5)


# ----- which Deployments an event concerns ----------------------------------------------------

def deployments_for_replica_set(rs: dict[str, Any], cache: Cache) -> list[Request]:
    """Its controller Deployment (same UID), or for an orphan every Deployment selecting it."""
    return owners_to_wake(rs, cache, "deployments")


def recreate_deployment_for_pod(pod: dict[str, Any], cache: Cache) -> list[Request]:
    """A pod of a Recreate Deployment wakes it: it waits for its old pods to be gone."""
    ref = controller_owner(pod)
    if ref is None or ref.get("kind") != "ReplicaSet":
        return []
    rs = cache.get("replicasets", meta(pod).get("namespace", ""), ref.get("name", ""))
    if rs is None or meta(rs).get("uid") != ref.get("uid"):
        return []
    return [r for r in deployments_for_replica_set(rs, cache)
            if not is_rolling(cache.get("deployments", r.namespace, r.name) or {})]


# ----- conditions -----------------------------------------------------------------------------

def get_condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or () if c.get("type") == kind), None)


def new_condition(kind: str, status: str, reason: str, message: str, now: int) -> dict[str, Any]:
    stamp = timestamp(now)
    return {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """SetDeploymentCondition: no change for the same status and reason; the transition time
    kept while the status stays."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status["conditions"] = [*status.get("conditions", []), condition]


def remove_condition(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != kind]


# ----- the controller ---------------------------------------------------------------------------

class DeploymentController:
    name = "deployment"
    watches = (Watch("deployments"), Watch("replicasets", enqueue=deployments_for_replica_set),
               Watch("pods", enqueue=recreate_deployment_for_pod))

    def __init__(self, *, clock: Callable[[], int]) -> None:
        self.clock = clock

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Generator[Call, Answer, Result]:
        d = cache.get("deployments", request.namespace, request.name)
        if d is None:
            return Result()
        try:
            result = yield from self.sync_deployment(d, cache, client)
        except WriteRefused:
            return Result(requeue=True)
        return result or Result()

    def sync_deployment(self, d: dict[str, Any], cache: Cache, client: Client) -> Generator[Call, Answer, Result | None]:
        rs_list = yield from self.claim_replica_sets(d, cache, client)
        if meta(d).get("deletionTimestamp"):
            new_rs, old_rss, d = yield from self.all_replica_sets(d, rs_list, False, cache, client)
            yield from self.sync_deployment_status([*old_rss, new_rs], new_rs, d, client)
            return None
        d = yield from self.check_paused_conditions(d, client)
        if _spec(d).get("paused"):
            result = yield from self.sync(d, rs_list, cache, client)
            return result
        if self.is_scaling_event(d, rs_list):
            result = yield from self.sync(d, rs_list, cache, client)
            return result
        if is_rolling(d):
            result = yield from self.rollout_rolling(d, rs_list, cache, client)
        else:
            result = yield from self.rollout_recreate(d, rs_list, cache, client)
        return result

    def claim_replica_sets(self, d: dict[str, Any], cache: Cache, client: Client) -> Generator[Call, Answer, list]:
        candidates = cache.list("replicasets", meta(d)["namespace"])
        claimed = yield from claim(d, "deployments", "replicasets", candidates, _spec(d).get("selector") or {}, client)
        return claimed

    # ----- new and old ReplicaSets ----------------------------------------------------------

    @staticmethod
    def find_new(d: dict[str, Any], rs_list: list[dict[str, Any]]) -> dict[str, Any] | None:
        """FindNewReplicaSet: the oldest with the Deployment's template (ignoring the hash)."""
        return next((rs for rs in by_creation(rs_list)
                     if templates_equal_ignoring_hash(_spec(rs).get("template") or {}, _spec(d).get("template") or {})),
                    None)

    def find_old(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new_rs = self.find_new(d, rs_list)
        return [rs for rs in rs_list if new_rs is None or meta(rs)["uid"] != meta(new_rs)["uid"]]

    @staticmethod
    def max_revision(rss: list[dict[str, Any]]) -> int:
        return max((r for r in (revision(rs) for rs in rss) if r is not None), default=0)

    def all_replica_sets(self, d: dict[str, Any], rs_list: list[dict[str, Any]], create: bool, cache: Cache,
                         client: Client) -> Generator[Call, Answer, tuple]:
        """getAllReplicaSetsAndSyncRevision: (new or None, old ones, the Deployment as now stored)."""
        old_rss = self.find_old(d, rs_list)
        new_rs, d = yield from self.new_replica_set(d, rs_list, old_rss, create, cache, client)
        return new_rs, old_rss, d

    def new_replica_set(self, d: dict[str, Any], rs_list: list[dict[str, Any]], old_rss: list[dict[str, Any]],
                        create: bool, cache: Cache, client: Client) -> Generator[Call, Answer, tuple]:
        new_revision = str(self.max_revision(old_rss) + 1)
        existing = self.find_new(d, rs_list)
        if existing is not None:
            result = yield from self.sync_existing_new(d, existing, new_revision, client)
            return result
        if not create:
            return None, d
        result = yield from self.create_new(d, old_rss, new_revision, cache, client)
        return result

    def sync_existing_new(self, d: dict[str, Any], rs: dict[str, Any], new_revision: str,
                          client: Client) -> Generator[Call, Answer, tuple]:
        rs = copy.deepcopy(rs)
        annotations_changed = self.set_new_rs_annotations(d, rs, new_revision, exists=True)
        min_ready = _spec(d).get("minReadySeconds") or 0
        if annotations_changed or (_spec(rs).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            updated = yield from write(client.update("replicasets", rs))
            return updated, d
        d = yield from self.set_deployment_revision(d, (meta(rs).get("annotations") or {}).get(REVISION, ""), client)
        if self.has_progress_deadline(d) and get_condition(_status(d), "Progressing") is None:
            status = copy.deepcopy(_status(d))
            set_condition(status, new_condition("Progressing", "True", FOUND_NEW_RS,
                                                f'Found new replica set "{meta(rs)["name"]}"', self.clock()))
            d = yield from self.write_status(d, status, client)
        return rs, d

    def create_new(self, d: dict[str, Any], old_rss: list[dict[str, Any]], new_revision: str, cache: Cache,
                   client: Client) -> Generator[Call, Answer, tuple]:
        new_rs = self.new_replica_set_object(d)
        new_rs["spec"]["replicas"] = self.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        self.set_new_rs_annotations(d, new_rs, new_revision, exists=False)
        answer = yield client.create("replicasets", new_rs)
        created, already_existed = answer.object, False
        if answer.already_exists:
            created = yield from self.existing_or_collision(d, new_rs, cache, client)
            already_existed = True
        elif not answer.ok:
            yield from self.report_create_failure(d, new_rs, answer, client)
            raise WriteRefused(f"create replicasets {meta(new_rs)['name']}", answer)
        d = yield from self.set_deployment_revision(d, new_revision, client)
        if not already_existed and self.has_progress_deadline(d):
            status = copy.deepcopy(_status(d))
            set_condition(status, new_condition("Progressing", "True", NEW_RS_CREATED,
                                                f'Created new replica set "{meta(created)["name"]}"', self.clock()))
            d = yield from self.write_status(d, status, client)
        return created, d

    def new_replica_set_object(self, d: dict[str, Any]) -> dict[str, Any]:
        template = copy.deepcopy(_spec(d).get("template") or {})
        pod_template_hash = compute_hash(template, _status(d).get("collisionCount"))
        template.setdefault("metadata", {})["labels"] = {**(meta(template).get("labels") or {}),
                                                         POD_TEMPLATE_HASH_LABEL: pod_template_hash}
        selector = copy.deepcopy(_spec(d).get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: pod_template_hash}
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{meta(d)['name']}-{pod_template_hash}", "namespace": meta(d)["namespace"],
                             "ownerReferences": [controller_reference(d, "deployments")],
                             "labels": dict(template["metadata"]["labels"])},
                "spec": {"replicas": 0, "minReadySeconds": _spec(d).get("minReadySeconds") or 0,
                         "selector": selector, "template": template}}

    def existing_or_collision(self, d: dict[str, Any], new_rs: dict[str, Any], cache: Cache,
                              client: Client) -> Generator[Call, Answer, dict[str, Any]]:
        """AlreadyExists: ours if we control it and its template is ours; else a hash
        collision: bump collisionCount and requeue."""
        found = cache.get("replicasets", meta(new_rs)["namespace"], meta(new_rs)["name"])
        if found is None:
            raise WriteRefused(f"replicaset {meta(new_rs)['name']} exists but is not in the cache", Answer(409))
        if controlled_by(found, meta(d)["uid"]) and \
                templates_equal_ignoring_hash(_spec(d).get("template") or {}, _spec(found).get("template") or {}):
            return found
        status = copy.deepcopy(_status(d))
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        yield from self.write_status(d, status, client)
        raise WriteRefused(f"pod-template-hash collision on {meta(new_rs)['name']}", Answer(409))

    def report_create_failure(self, d: dict[str, Any], new_rs: dict[str, Any], answer: Answer,
                              client: Client) -> Generator[Call, Answer, None]:
        """ReplicaSetCreateError on the Progressing condition (best effort)."""
        if answer.unknown or answer.namespace_terminating or not self.has_progress_deadline(d):
            return
        status = copy.deepcopy(_status(d))
        message = f'Failed to create new replica set "{meta(new_rs)["name"]}": {(answer.body or {}).get("message", "")}'
        set_condition(status, new_condition("Progressing", "False", RS_CREATE_ERROR, message, self.clock()))
        d = copy.deepcopy(d)
        d["status"] = status
        yield client.update_status("deployments", d)

    def set_new_rs_annotations(self, d: dict[str, Any], rs: dict[str, Any], new_revision: str, exists: bool) -> bool:
        """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision
        (keeping the old one in revision-history), and on creation the replicas annotations."""
        annotations = rs["metadata"]["annotations"] = dict(meta(rs).get("annotations") or {})
        changed = False
        for key, value in sorted((meta(d).get("annotations") or {}).items()):
            if key not in NOT_COPIED and annotations.get(key) != value:
                annotations[key], changed = value, True
        old_text = annotations.get(REVISION)
        try:
            old = int(old_text) if old_text is not None else 0
        except ValueError:
            return changed
        if old < int(new_revision):
            annotations[REVISION], changed = new_revision, True
            if old_text is not None:
                self.append_revision_history(annotations, old_text)
        if not exists and self.set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
            changed = True
        return changed

    @staticmethod
    def append_revision_history(annotations: dict[str, str], old_revision: str) -> None:
        history = [r for r in (annotations.get(REVISION_HISTORY) or "").split(",") if r] + [old_revision]
        while len(",".join(history)) > REVISION_HISTORY_CHARS_MAX and len(history) > 1:
            history.pop(0)
        annotations[REVISION_HISTORY] = ",".join(history)

    @staticmethod
    def set_replicas_annotations(rs: dict[str, Any], desired: int, maximum: int) -> bool:
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
        changed = any(annotations.get(k) != v for k, v in wanted.items())
        annotations.update(wanted)
        return changed

    @staticmethod
    def replicas_annotations_need_update(rs: dict[str, Any], desired: int, maximum: int) -> bool:
        annotations = meta(rs).get("annotations") or {}
        return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)

    def set_deployment_revision(self, d: dict[str, Any], new_revision: str,
                                client: Client) -> Generator[Call, Answer, dict[str, Any]]:
        if (meta(d).get("annotations") or {}).get(REVISION) == new_revision:
            return d
        # An update at the resourceVersion read, as kube's SetDeploymentRevision is followed by
        # Update: a patch would land on a newer Deployment (another template, another
        # generation) and hand it back to a sync that chose its ReplicaSets for the old one.
        d = copy.deepcopy(d)
        d["metadata"]["annotations"] = {**(meta(d).get("annotations") or {}), REVISION: new_revision}
        updated = yield from write(client.update("deployments", d))
        return updated

    def new_rs_new_replicas(self, d: dict[str, Any], all_rss: list[dict[str, Any]], new_rs: dict[str, Any]) -> int:
        """NewRSNewReplicas: Recreate -> replicas; rolling -> up to replicas + maxSurge in all."""
        if not is_rolling(d):
            return replicas(d)
        current, allowed = _sum(all_rss, replicas), replicas(d) + max_surge(d)
        if current >= allowed:
            return replicas(new_rs)
        return replicas(new_rs) + min(allowed - current, replicas(d) - replicas(new_rs))

    # ----- scaling ----------------------------------------------------------------------------

    def scale_replica_set(self, rs: dict[str, Any], new_scale: int, d: dict[str, Any],
                          client: Client) -> Generator[Call, Answer, tuple[bool, dict[str, Any]]]:
        """(whether spec.replicas changed, the ReplicaSet as now stored); the replicas
        annotations are kept current on the way."""
        size_changes = replicas(rs) != new_scale
        desired, maximum = replicas(d), replicas(d) + max_surge(d)
        if not size_changes and not self.replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        rs = copy.deepcopy(rs)
        rs["spec"]["replicas"] = new_scale
        self.set_replicas_annotations(rs, desired, maximum)
        updated = yield from write(client.update("replicasets", rs))
        return size_changes, updated

    def scale_if_needed(self, rs: dict[str, Any], new_scale: int, d: dict[str, Any],
                        client: Client) -> Generator[Call, Answer, tuple[bool, dict[str, Any]]]:
        """scaleReplicaSetAndRecordEvent: nothing if the size is already right."""
        if replicas(rs) == new_scale:
            return False, rs
        result = yield from self.scale_replica_set(rs, new_scale, d, client)
        return result

    def is_scaling_event(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> bool:
        """An active ReplicaSet whose desired-replicas annotation is not spec.replicas."""
        new_rs = self.find_new(d, rs_list)
        for rs in active([*self.find_old(d, rs_list), new_rs]):
            desired = (meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and desired.isdigit() and int(desired) != replicas(d):
                return True
        return False

    def sync(self, d: dict[str, Any], rs_list: list[dict[str, Any]], cache: Cache,
             client: Client) -> Generator[Call, Answer, Result | None]:
        """Scaling events and paused Deployments: no rollout, sizes only."""
        new_rs, old_rss, d = yield from self.all_replica_sets(d, rs_list, False, cache, client)
        yield from self.scale(d, new_rs, old_rss, client)
        if _spec(d).get("paused"):
            yield from self.cleanup(old_rss, d, client)
        yield from self.sync_deployment_status([*old_rss, new_rs], new_rs, d, client)
        return None

    def scale(self, d: dict[str, Any], new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]],
              client: Client) -> Generator[Call, Answer, None]:
        only = self.active_or_latest(new_rs, old_rss)
        if only is not None:
            if replicas(only) != replicas(d):
                yield from self.scale_if_needed(only, replicas(d), d, client)
            return
        if self.is_saturated(d, new_rs):
            for old in active(old_rss):
                yield from self.scale_if_needed(old, 0, d, client)
            return
        if is_rolling(d):
            for rs, size in self.proportional_sizes(d, active([*old_rss, new_rs])):
                yield from self.scale_replica_set(rs, size, d, client)

    @staticmethod
    def active_or_latest(new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]]) -> dict[str, Any] | None:
        """FindActiveOrLatest: the only active ReplicaSet; with none active, the new one or the
        newest old one; None when several are active."""
        if new_rs is None and not old_rss:
            return None
        olds = list(reversed(by_creation(old_rss)))
        running = active([*olds, new_rs])
        if len(running) == 1:
            return running[0]
        if not running:
            return new_rs if new_rs is not None else olds[0]
        return None

    @staticmethod
    def is_saturated(d: dict[str, Any], rs: dict[str, Any] | None) -> bool:
        if rs is None:
            return False
        desired = (meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS, "")
        return desired.isdigit() and replicas(rs) == replicas(d) and int(desired) == replicas(d) \
            and _status_count(rs, "availableReplicas") == replicas(d)

    def proportional_sizes(self, d: dict[str, Any], rss: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
        """The new size of each active ReplicaSet when replicas + maxSurge changed."""
        allowed = replicas(d) + max_surge(d) if replicas(d) > 0 else 0
        to_add = allowed - _sum(rss, replicas)
        newer_first = to_add > 0
        ordered = sorted(by_creation(rss), key=lambda rs: _created(rs), reverse=newer_first)
        ordered = sorted(ordered, key=replicas, reverse=True)  # stable: biggest first, ties as above
        sizes, added = [], 0
        for rs in ordered:
            proportion = self.proportion(rs, d, to_add, added) if to_add else 0
            sizes.append(replicas(rs) + proportion)
            added += proportion
        if ordered and to_add:
            sizes[0] = max(0, sizes[0] + to_add - added)
        return list(zip(ordered, sizes))

    def proportion(self, rs: dict[str, Any], d: dict[str, Any], to_add: int, added: int) -> int:
        """GetProportion: this ReplicaSet's share, never past what is left to add or remove."""
        if replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        fraction, allowed = self.fraction(rs, d), to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    @staticmethod
    def fraction(rs: dict[str, Any], d: dict[str, Any]) -> int:
        if replicas(d) == 0:
            return -replicas(rs)
        deployment_replicas = replicas(d) + max_surge(d)
        annotated = (meta(rs).get("annotations") or {}).get(MAX_REPLICAS, "")
        base = int(annotated) if annotated.isdigit() else _status_count(d, "replicas")
        if base == 0:
            return 0
        return _round_half_away(replicas(rs) * deployment_replicas / base) - replicas(rs)

    # ----- rolling update ------------------------------------------------------------------------

    def rollout_rolling(self, d: dict[str, Any], rs_list: list[dict[str, Any]], cache: Cache,
                        client: Client) -> Generator[Call, Answer, Result | None]:
        new_rs, old_rss, d = yield from self.all_replica_sets(d, rs_list, True, cache, client)
        all_rss = [*old_rss, new_rs]
        scaled_up = yield from self.reconcile_new_replica_set(all_rss, new_rs, d, client)
        if not scaled_up:
            scaled_down = yield from self.reconcile_old_replica_sets(all_rss, active(old_rss), new_rs, d, client)
            if not scaled_down and self.deployment_complete(d, _status(d)):
                yield from self.cleanup(old_rss, d, client)
        result = yield from self.sync_rollout_status(all_rss, new_rs, d, client)
        return result

    def reconcile_new_replica_set(self, all_rss: list[dict[str, Any]], new_rs: dict[str, Any], d: dict[str, Any],
                                  client: Client) -> Generator[Call, Answer, bool]:
        if replicas(new_rs) == replicas(d):
            return False
        target = replicas(d) if replicas(new_rs) > replicas(d) else self.new_rs_new_replicas(d, all_rss, new_rs)
        scaled, _ = yield from self.scale_if_needed(new_rs, target, d, client)
        return scaled

    def reconcile_old_replica_sets(self, all_rss: list[dict[str, Any]], old_rss: list[dict[str, Any]],
                                   new_rs: dict[str, Any], d: dict[str, Any], client: Client) -> Generator[Call, Answer, bool]:
        if _sum(old_rss, replicas) == 0:
            return False
        max_scaled_down = self.max_scaled_down(all_rss, new_rs, d)
        if max_scaled_down <= 0:
            return False
        cleanup = yield from self.cleanup_unhealthy_replicas(old_rss, d, max_scaled_down, client)
        if cleanup is None:
            return False
        old_rss, cleaned = cleanup
        scaled_down = yield from self.scale_down_old_for_rolling_update([*old_rss, new_rs], old_rss, d, client)
        return cleaned + scaled_down > 0

    def max_scaled_down(self, all_rss: list[dict[str, Any]], new_rs: dict[str, Any], d: dict[str, Any]) -> int:
        """allPods - minAvailable - newRSUnavailable: how many old replicas may go now."""
        min_available = replicas(d) - max_unavailable(d)
        new_unavailable = replicas(new_rs) - _status_count(new_rs, "availableReplicas")
        return _sum(all_rss, replicas) - min_available - new_unavailable

    def cleanup_unhealthy_replicas(self, old_rss: list[dict[str, Any]], d: dict[str, Any], limit: int,
                                   client: Client) -> Generator[Call, Answer, tuple[list[dict[str, Any]], int] | None]:
        """Scale old ReplicaSets down by their unavailable replicas first (oldest first).

        None when one reached before the limit has more available replicas in its status than in
        its spec (a status that still counts the pods of its last scale-down): kube's
        cleanupUnhealthyReplicas computes a scale "down" to more replicas there and returns an
        error, and reconcileOldReplicaSets then scales nothing down in this sync."""
        result, total = [], 0
        for rs in by_creation(old_rss):
            unhealthy = replicas(rs) - _status_count(rs, "availableReplicas")
            if total < limit and replicas(rs) != 0 and unhealthy < 0:
                return None
            if total < limit and replicas(rs) != 0 and unhealthy > 0:
                count = min(limit - total, unhealthy)
                _, rs = yield from self.scale_if_needed(rs, replicas(rs) - count, d, client)
                total += count
            result.append(rs)
        return result, total

    def scale_down_old_for_rolling_update(self, all_rss: list[dict[str, Any]], old_rss: list[dict[str, Any]],
                                          d: dict[str, Any], client: Client) -> Generator[Call, Answer, int]:
        """Scale old ReplicaSets down (oldest first) by the available pods above minAvailable."""
        min_available = replicas(d) - max_unavailable(d)
        available = _sum(all_rss, lambda rs: _status_count(rs, "availableReplicas"))
        if available <= min_available:
            return 0
        budget, total = available - min_available, 0
        for rs in by_creation(old_rss):
            if total >= budget:
                break
            if replicas(rs) == 0:
                continue
            count = min(replicas(rs), budget - total)
            yield from self.scale_if_needed(rs, replicas(rs) - count, d, client)
            total += count
        return total

    # ----- recreate ---------------------------------------------------------------------------

    def rollout_recreate(self, d: dict[str, Any], rs_list: list[dict[str, Any]], cache: Cache,
                         client: Client) -> Generator[Call, Answer, Result | None]:
        new_rs, old_rss, d = yield from self.all_replica_sets(d, rs_list, False, cache, client)
        scaled_down = False
        for rs in active(old_rss):
            scaled, _ = yield from self.scale_if_needed(rs, 0, d, client)
            scaled_down = scaled_down or scaled
        if not scaled_down and not self.old_pods_running(new_rs, old_rss, rs_list, cache, d):
            if new_rs is None:
                new_rs, old_rss, d = yield from self.all_replica_sets(d, rs_list, True, cache, client)
            yield from self.scale_if_needed(new_rs, replicas(d), d, client)
            if self.deployment_complete(d, _status(d)):
                yield from self.cleanup(old_rss, d, client)
        result = yield from self.sync_rollout_status([*old_rss, new_rs], new_rs, d, client)
        return result

    @staticmethod
    def old_pods_running(new_rs: dict[str, Any] | None, old_rss: list[dict[str, Any]], rs_list: list[dict[str, Any]],
                         cache: Cache, d: dict[str, Any]) -> bool:
        """Any old replica in status, or any pod of an old ReplicaSet not Succeeded or Failed."""
        if _sum(old_rss, lambda rs: _status_count(rs, "replicas")) > 0:
            return True
        old_uids = {meta(rs)["uid"] for rs in rs_list} - ({meta(new_rs)["uid"]} if new_rs is not None else set())
        for pod in cache.list("pods", meta(d)["namespace"]):
            ref = controller_owner(pod)
            if ref is not None and ref.get("uid") in old_uids and \
                    selector_matches(_spec(d).get("selector"), meta(pod).get("labels")) and \
                    (_status(pod).get("phase") not in ("Succeeded", "Failed")):
                return True
        return False

    # ----- cleanup ------------------------------------------------------------------------------

    def cleanup(self, old_rss: list[dict[str, Any]], d: dict[str, Any], client: Client) -> Generator[Call, Answer, None]:
        """cleanupDeployment: keep revisionHistoryLimit old ReplicaSets, delete the rest that
        are scaled to zero and observed so, lowest revision first."""
        limit = _spec(d).get("revisionHistoryLimit")
        if limit is None or limit == INT32_MAX:
            return
        cleanable = [rs for rs in old_rss if not meta(rs).get("deletionTimestamp")]
        surplus = len(cleanable) - int(limit)
        for rs in self.by_revision(cleanable)[:max(0, surplus)]:
            if _status_count(rs, "replicas") != 0 or replicas(rs) != 0 or \
                    int(meta(rs).get("generation") or 0) > _status_count(rs, "observedGeneration"):
                continue
            answer = yield client.delete("replicasets", meta(rs)["namespace"], meta(rs)["name"])
            if not (answer.ok or answer.not_found):
                raise WriteRefused(f"delete replicasets {meta(rs)['name']}", answer)

    @staticmethod
    def by_revision(rss: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """ReplicaSetsByRevision (unreadable revisions sort as creation order puts them)."""
        return sorted(by_creation(rss), key=lambda rs: revision(rs) if revision(rs) is not None else -1)

    # ----- status -----------------------------------------------------------------------------

    def calculate_status(self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None,
                         d: dict[str, Any]) -> dict[str, Any]:
        available = _sum(all_rss, lambda rs: _status_count(rs, "availableReplicas"))
        status: dict[str, Any] = {
            "observedGeneration": int(meta(d).get("generation") or 0),
            "replicas": _sum(all_rss, lambda rs: _status_count(rs, "replicas")),
            "updatedReplicas": _status_count(new_rs, "replicas"),
            "readyReplicas": _sum(all_rss, lambda rs: _status_count(rs, "readyReplicas")),
            "availableReplicas": available,
            "unavailableReplicas": max(0, _sum(all_rss, replicas) - available),
            "conditions": copy.deepcopy(_status(d).get("conditions") or []),
        }
        if _status(d).get("collisionCount") is not None:
            status["collisionCount"] = _status(d)["collisionCount"]
        if available >= replicas(d) - max_unavailable(d):
            set_condition(status, new_condition("Available", "True", MIN_AVAILABLE,
                                                "Deployment has minimum availability.", self.clock()))
        else:
            set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE,
                                                "Deployment does not have minimum availability.", self.clock()))
        return status

    def sync_deployment_status(self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None,
                               d: dict[str, Any], client: Client) -> Generator[Call, Answer, None]:
        status = self.calculate_status(all_rss, new_rs, d)
        if normalized(status) != normalized(_status(d)):
            yield from self.write_status(d, status, client)

    def sync_rollout_status(self, all_rss: list[dict[str, Any] | None], new_rs: dict[str, Any] | None,
                            d: dict[str, Any], client: Client) -> Generator[Call, Answer, Result | None]:
        """progress.go: status plus the Progressing condition; run again at the deadline."""
        status = self.calculate_status(all_rss, new_rs, d)
        if not self.has_progress_deadline(d):
            remove_condition(status, "Progressing")
        current = get_condition(_status(d), "Progressing")
        complete_before = status["replicas"] == status["updatedReplicas"] and current is not None \
            and current.get("reason") == NEW_RS_AVAILABLE
        if self.has_progress_deadline(d) and not complete_before:
            self.set_progressing(status, current, new_rs, d)
        if normalized(status) == normalized(_status(d)):
            return self.requeue_stuck(d, status)
        yield from self.write_status(d, status, client)
        return None

    def set_progressing(self, status: dict[str, Any], current: dict[str, Any] | None, new_rs: dict[str, Any] | None,
                        d: dict[str, Any]) -> None:
        name, now = (f'ReplicaSet "{meta(new_rs)["name"]}"' if new_rs is not None
                     else f'Deployment "{meta(d)["name"]}"'), self.clock()
        if self.deployment_complete(d, status):
            set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE,
                                                f"{name} has successfully progressed.", now))
        elif self.deployment_progressing(d, status):
            condition = new_condition("Progressing", "True", RS_UPDATED, f"{name} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, "Progressing")
            set_condition(status, condition)
        elif self.timed_out(d, status):
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT,
                                                f"{name} has timed out progressing.", now))

    @staticmethod
    def deployment_complete(d: dict[str, Any], status: dict[str, Any]) -> bool:
        want = replicas(d)
        return int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want \
            and int(status.get("availableReplicas") or 0) == want \
            and int(status.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0)

    @staticmethod
    def deployment_progressing(d: dict[str, Any], status: dict[str, Any]) -> bool:
        old = _status(d)
        def count(s: dict[str, Any], field: str) -> int:
            return int(s.get(field) or 0)
        old_old = count(old, "replicas") - count(old, "updatedReplicas")
        new_old = count(status, "replicas") - count(status, "updatedReplicas")
        return count(status, "updatedReplicas") > count(old, "updatedReplicas") or new_old < old_old \
            or count(status, "readyReplicas") > count(old, "readyReplicas") \
            or count(status, "availableReplicas") > count(old, "availableReplicas")

    def timed_out(self, d: dict[str, Any], status: dict[str, Any]) -> bool:
        condition = get_condition(status, "Progressing")
        if not self.has_progress_deadline(d) or condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        return self.deadline(d, condition) < self.clock()

    def deadline(self, d: dict[str, Any], condition: dict[str, Any]) -> int:
        try:
            since = tick_of(condition.get("lastUpdateTime") or "")
        except ValueError:
            since = self.clock()
        return since + int(_spec(d)["progressDeadlineSeconds"])

    def requeue_stuck(self, d: dict[str, Any], status: dict[str, Any]) -> Result | None:
        """requeueStuckDeployment: run again just after the deadline of a rollout in progress."""
        current = get_condition(_status(d), "Progressing")
        if not self.has_progress_deadline(d) or current is None or self.deployment_complete(d, status) \
                or current.get("reason") == TIMED_OUT:
            return None
        after = self.deadline(d, current) - self.clock()
        return Result(requeue=True) if after < 1 else Result(requeue_after=after + 1)

    @staticmethod
    def has_progress_deadline(d: dict[str, Any]) -> bool:
        deadline = _spec(d).get("progressDeadlineSeconds")
        return deadline is not None and deadline != INT32_MAX

    def check_paused_conditions(self, d: dict[str, Any], client: Client) -> Generator[Call, Answer, dict[str, Any]]:
        """A paused (resumed) Deployment says so in Progressing, unless it timed out already."""
        if not self.has_progress_deadline(d):
            return d
        current = get_condition(_status(d), "Progressing")
        if current is not None and current.get("reason") == TIMED_OUT:
            return d
        paused, says_paused = bool(_spec(d).get("paused")), current is not None and current.get("reason") == PAUSED
        if paused == says_paused:
            return d
        status = copy.deepcopy(_status(d))
        reason, message = (PAUSED, "Deployment is paused") if paused else (RESUMED, "Deployment is resumed")
        set_condition(status, new_condition("Progressing", "Unknown", reason, message, self.clock()))
        d = yield from self.write_status(d, status, client)
        return d

    def write_status(self, d: dict[str, Any], status: dict[str, Any],
                     client: Client) -> Generator[Call, Answer, dict[str, Any]]:
        d = copy.deepcopy(d)
        d["status"] = status
        updated = yield from write(client.update_status("deployments", d))
        return updated
