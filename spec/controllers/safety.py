"""The safety rules of the controllers, as functions of plain objects: what must hold at every
revision while the controllers work, not only at their fixpoint (spec/controllers/invariants.py
states each one; checks/controllers/observe.py applies them to a run).

Each returns one sentence per violation (empty: it holds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from spec.controllers.desired import controlled_by, is_active, is_available, is_ready, meta, template_hash_free

__all__ = ["rollout_limits", "namespace_left_problems", "recreate_problems", "foreground_problems", "FOREGROUND", "scaled", "pods_of_deployment", "template_running_twice", "awaiting_scale_down", "spec_replicas", "spec_excess", "stale_view_excess", "surge_problems", "unavailable_problems",
           "overcounted", "STALE_STATUS_TICKS",
           "status_problems", "gc_delete_problems", "leader_problems", "endpoints_ready_problems", "template_key",
           "paused_rollout_problems", "PHASE_ORDINAL", "deletion_rank", "scale_down_order_problems",
           "pod_outcome", "job_count_problems", "job_backoff_problems", "job_finished", "names_owner", "orphan_problems", "ORPHAN",
           "GRAPH_LAG_TICKS", "ready_not_available"]


def scaled(value: Any, replicas: int, round_up: bool) -> int:
    """maxSurge / maxUnavailable as a count: an integer, or a percentage of ``replicas`` rounded
    up (maxSurge) or down (maxUnavailable), as ``intstr.GetScaledValueFromIntOrPercent`` does."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * replicas / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def rollout_limits(deployment: dict[str, Any], replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment at ``replicas`` (defaults 25%
    each); if both come to 0, maxUnavailable is 1 (``ResolveFenceposts``)."""
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def pods_of_deployment(deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]],
                       pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods the Deployment's ReplicaSets control, by UID all the way."""
    owners = {meta(rs).get("uid") for rs in replica_sets if controlled_by(rs, meta(deployment).get("uid"))}
    return [p for p in pods if any(controlled_by(p, uid) for uid in owners)]


def template_running_twice(deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]],
                           pods: Iterable[dict[str, Any]]) -> bool:
    """Two ReplicaSets of the Deployment (by UID) with one template (ignoring the hash label) both
    run: scaled up, or with active pods left. That is a second "new" ReplicaSet, which kube's
    Deployment controller creates, then scales down as an old one, when its pod-template-hash name
    stops being idempotent.

    kube names the new ReplicaSet from the template and ``status.collisionCount``, both read from
    its informer cache (pkg/controller/deployment/sync.go, getNewReplicaSet), so a create repeated
    on a cache that has not seen the last one answers AlreadyExists and changes nothing. A hash
    collision (a Deployment deleted and created again under its name while its predecessor's
    ReplicaSet is still being collected) bumps collisionCount; a sync on a cache that has not seen
    the bump yet names the ReplicaSet without it, which succeeds once the collected one is gone,
    and the next sync, seeing the bump but not that ReplicaSet, creates the other name, with its
    full share of replicas computed without the first (NewRSNewReplicas over the ReplicaSets the
    cache shows). kube keeps no expectations for ReplicaSet creates, so its pods can exceed
    replicas + maxSurge until the older duplicate (FindNewReplicaSet takes the oldest) has scaled
    the other down and its pods are gone."""
    uid = meta(deployment).get("uid")
    owners_of_active = {_controller_uid(p) for p in pods if is_active(p)}
    templates = [template_hash_free((rs.get("spec") or {}).get("template")) for rs in replica_sets
                 if controlled_by(rs, uid) and (int((rs.get("spec") or {}).get("replicas", 1) or 0) > 0
                                                 or meta(rs).get("uid") in owners_of_active)]
    return any(template in templates[:index] for index, template in enumerate(templates))


def _controller_uid(obj: dict[str, Any]) -> str | None:
    return next((ref.get("uid") for ref in meta(obj).get("ownerReferences") or () if ref.get("controller")), None)


def awaiting_scale_down(replica_sets: Iterable[dict[str, Any]], pods: Iterable[dict[str, Any]],
                        predate_scale_down: Collection[str]) -> int:
    """How many active pods are a scale-down their ReplicaSet's controller has not carried out
    yet: per ReplicaSet, its active pods beyond spec.replicas, as far as they are pods that
    existed before its spec.replicas was last lowered (``predate_scale_down``: their UIDs).

    kube's rolling update bounds the ReplicaSets' spec.replicas, not the pods: NewRSNewReplicas
    scales the new ReplicaSet up to replicas + maxSurge minus GetReplicaCountForReplicaSets (the
    sum of every ReplicaSet's spec.replicas; pkg/controller/deployment/util/deployment_util.go),
    as soon as its cache shows an old ReplicaSet scaled down, and each ReplicaSet's controller
    then creates or deletes its pods in its own sync (pkg/controller/replicaset/replica_set.go,
    manageReplicas). The new ReplicaSet's pods can come before the old one's controller, still
    busy with that ReplicaSet's last sync (the workqueue gives a key to one worker at a time),
    deletes its surplus. Pods created beyond a ReplicaSet's spec are never excused: that is a
    ReplicaSet controller acting on a view that missed its own creates."""
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        if is_active(pod):
            by_owner.setdefault(_controller_uid(pod) or "", []).append(pod)
    excused = 0
    for rs in replica_sets:
        owned = by_owner.get(meta(rs).get("uid") or "", [])
        surplus = len(owned) - int((rs.get("spec") or {}).get("replicas", 1) or 0)
        older = len([p for p in owned if meta(p).get("uid") in predate_scale_down])
        excused += max(0, min(surplus, older))
    return excused


def spec_replicas(obj: dict[str, Any]) -> int:
    """A ReplicaSet's (or Deployment's) spec.replicas, 1 when unset."""
    return int((obj.get("spec") or {}).get("replicas", 1) or 0)


def spec_excess(deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]]) -> int:
    """How far the sum of the spec.replicas of the Deployment's ReplicaSets (by UID) exceeds its
    replicas + maxSurge (negative: below it)."""
    uid, replicas = meta(deployment).get("uid"), (deployment.get("spec") or {}).get("replicas", 1)
    surge, _ = rollout_limits(deployment, replicas)
    return sum(spec_replicas(rs) for rs in replica_sets if controlled_by(rs, uid)) - (replicas + surge)


def stale_view_excess(deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]], raised: str,
                      recent: Iterable[tuple[str, int, int]]) -> int:
    """The Deployment's ReplicaSet ``raised`` (a UID) was just scaled up or created, and
    ``replica_sets`` are as now stored: how much of the excess of their spec.replicas over replicas
    + maxSurge (``spec_excess``) a decision on a view missing the last changes of the others
    explains. ``recent``: those changes, (UID, spec.replicas before, after; 0 for none), oldest
    first, as far back as such a view may be (a creation or deletion is one too).

    kube's Deployment controller keeps no expectations for its ReplicaSet writes: each sync lists
    the ReplicaSets from its informer cache (pkg/controller/deployment/deployment_controller.go,
    syncDeployment, getReplicaSetsForDeployment), and NewRSNewReplicas
    (pkg/controller/deployment/util/deployment_util.go) scales the new ReplicaSet to at most
    replicas + maxSurge minus the sum of the spec.replicas listed. A sync that starts before the
    watch event of its previous sync's scale-up of another ReplicaSet has reached that cache (the
    user set the template back to an older one while the rollout to the other scaled it up:
    getNewReplicaSet reuses the older ReplicaSet) adds that scale-up again, and the ReplicaSets'
    spec.replicas sum to more than replicas + maxSurge until its next sync scales an old one
    down. A view missing a change of the raised ReplicaSet itself explains nothing: its new
    spec.replicas plus the others' in that view is what kube bounds."""
    excess = spec_excess(deployment, replica_sets)
    if excess <= 0:
        return 0
    uid = meta(deployment).get("uid")
    others = sum(spec_replicas(rs) for rs in replica_sets if controlled_by(rs, uid) and meta(rs).get("uid") != raised)
    lowest = now = others
    for changed, before, after in reversed(list(recent)):
        if changed != raised:
            others -= after - before
            lowest = min(lowest, others)
    return min(excess, now - lowest)


def surge_problems(key: str, deployment: dict[str, Any], pods: list[dict[str, Any]],
                   replica_sets: Iterable[dict[str, Any]] = (), predate_scale_down: Collection[str] = (),
                   stale_excess: int = 0) -> list[str]:
    """At most replicas + maxSurge active pods (``pods``: those of its ReplicaSets), not counting
    those an old ReplicaSet's controller is yet to delete after a scale-down
    (``awaiting_scale_down``), and not judged while two of its ReplicaSets of one template run
    (``template_running_twice``): kube keeps neither. ``stale_excess`` more are allowed, as far as
    the ReplicaSets' spec.replicas still exceed the bound: what ``stale_view_excess`` found
    explained when one of them was last scaled up (kube keeps no expectations for that either)."""
    replica_sets = list(replica_sets)
    if template_running_twice(deployment, replica_sets, pods):
        return []
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    surge, _ = rollout_limits(deployment, replicas)
    allowed = replicas + surge + max(0, min(stale_excess, spec_excess(deployment, replica_sets)))
    active = len([p for p in pods if is_active(p)]) - awaiting_scale_down(replica_sets, pods, predate_scale_down)
    if active <= allowed:
        return []
    beyond = f" + {allowed - replicas - surge} its ReplicaSets were scaled beyond on a stale view" \
        if allowed > replicas + surge else ""
    return [f"deployment {key}: {active} active pods, more than {replicas} replicas + maxSurge {surge}{beyond}"]


# How long a ReplicaSet status the store has replaced may still be what the Deployment controller
# decides on: a reconcile reads its cache once, a watch event behind the store, and its
# scale-down of an old ReplicaSet can be its third write (cleanupUnhealthyReplicas, then
# scaleDownOldReplicaSetsForRollingUpdate), at about 8 ticks a write.
STALE_STATUS_TICKS = 30


def overcounted(replica_set: dict[str, Any], lowest_since_observed: int | None = None) -> int:
    """How many more available replicas a ReplicaSet's status counts than its spec asks for, or
    than the lowest spec.replicas it had from the generation the status observed on
    (``lowest_since_observed``, when known).

    After a scale-down kube's ReplicaSet controller writes a status computed from the pods it
    listed before deleting (pkg/controller/replicaset/replica_set.go, syncReplicaSet: manageReplicas
    then calculateStatus on the same filteredPods), so until its next sync the status counts the
    pods it has just deleted, with observedGeneration already at the new generation. The spec
    may rise again before that sync (a rollback makes the ReplicaSet new again and the Deployment
    controller scales it back up), and that sync's status write may be lost:
    updateReplicaSetStatus (replica_set_utils.go) tries twice (statusUpdateRetries 1), a GET
    between, and two conflicts leave the status of an older sync stored under the higher spec.
    Either way the status still counts pods deleted down to the lowest spec since the generation
    it observed, and the Deployment controller sums it as is (it never compares a ReplicaSet's
    observedGeneration)."""
    spec = int((replica_set.get("spec") or {}).get("replicas", 1) or 0)
    if lowest_since_observed is not None:
        spec = min(spec, lowest_since_observed)
    return max(0, int((replica_set.get("status") or {}).get("availableReplicas") or 0) - spec)


def ready_not_available(deleted: dict[str, Any], pods: Iterable[dict[str, Any]], min_ready_seconds: int,
                        now: int) -> int:
    """How many pods the ReplicaSet of ``deleted`` keeps that are Ready but not yet available
    (Ready for less than minReadySeconds). kube's scale-down ranks pods by readiness, then by how
    many of the ReplicaSet's pods share their node, and only then by how long they have been
    Ready (controller.ActivePodsWithRanks), while the Deployment controller sized the scale-down
    on available counts: an available pod doubled up on a node goes before one still short of its
    minReadySeconds, one pod below the floor for each such pod kept."""
    if not min_ready_seconds:
        return 0
    owner = _controller_uid(deleted)
    return sum(1 for pod in pods if _controller_uid(pod) == owner and meta(pod).get("uid") != meta(deleted).get("uid")
               and is_active(pod) and is_ready(pod) and not is_available(pod, min_ready_seconds, now))


def unavailable_problems(key: str, deployment: dict[str, Any], available: int, deleted: list[str],
                         overcount: int = 0) -> list[str]:
    """A deletion never takes the available pods below replicas - maxUnavailable (``deleted``:
    the available pods just deleted), except by what the scale-down it carries out was allowed on
    pods that were already deleted (``overcount``).

    kube's Deployment controller counts available pods as the sum of its ReplicaSets' statuses
    (rolling.go, scaleDownOldReplicaSetsForRollingUpdate: GetAvailableReplicaCountForReplicaSets
    over the old ones and the new one; reconcileOldReplicaSets: newRS.Spec.Replicas -
    newRS.Status.AvailableReplicas, negative when that status overcounts). A status that still
    counts the pods of its own last scale-down (``overcounted``) lets it scale an old ReplicaSet
    down by as many pods too many. ``overcount`` is the sum of those overcounts over the other
    ReplicaSets of the Deployment when the one whose pod was deleted was last scaled down (the
    statuses stored then or up to STALE_STATUS_TICKS before): a shortfall within it is kube's;
    one beyond it, or without it, is not. (An old ReplicaSet's own overcount is never an excuse:
    cleanupUnhealthyReplicas then errs and the sync scales nothing down.)"""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    _, unavailable = rollout_limits(deployment, replicas)
    floor = replicas - unavailable
    if not deleted or available + overcount >= floor:
        return []
    return [f"deployment {key}: deleting {', '.join(deleted)} left {available} available pods, fewer than "
            f"{replicas} replicas - maxUnavailable {unavailable}"]


def status_problems(key: str, deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]]) -> list[str]:
    """A status that has observed the current generation and counts updated replicas speaks of
    a ReplicaSet of the current template: that ReplicaSet exists."""
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta(deployment).get("generation", 0) or not status.get("updatedReplicas"):
        return []
    current = template_hash_free((deployment.get("spec") or {}).get("template"))
    uid = meta(deployment).get("uid")
    if any(controlled_by(rs, uid) and template_hash_free((rs.get("spec") or {}).get("template")) == current
           for rs in replica_sets):
        return []
    return [f"deployment {key}: status says generation {status.get('observedGeneration')} is observed with "
            f"{status.get('updatedReplicas')} updated replicas, but no ReplicaSet of that template exists"]


def gc_delete_problems(what: str, deleted: dict[str, Any], by_uid: Mapping[str, dict[str, Any]]) -> list[str]:
    """The garbage collector deleted ``deleted``: none of its owners may be live (in the store,
    found by UID, and not being deleted)."""
    live = [ref for ref in meta(deleted).get("ownerReferences") or ()
            if ref.get("uid") in by_uid and not meta(by_uid[ref["uid"]]).get("deletionTimestamp")]
    return [f"the garbage collector deleted {what}, whose owner {ref.get('kind')} {ref.get('name')} "
            f"(uid {ref.get('uid')}) is alive" for ref in live]


def recreate_problems(key: str, pod: dict[str, Any], pods: Iterable[dict[str, Any]],
                      raised_late: Collection[str] = ()) -> list[str]:
    """``pod`` was just created for the Recreate Deployment ``key`` (``pods``: all of its pods): no
    pod of another of its ReplicaSets may still run, being deleted or not (kube's oldPodsRunning:
    any pod not Succeeded or Failed); but for the ReplicaSets in ``raised_late``, scaled up after
    the template last changed, or while their template was not the Deployment's: a scale-up the
    Deployment controller sent for an earlier template, landed after the change, on a cache that
    had not seen it (kube keeps no expectations for its own ReplicaSet writes; its next sync
    scales that ReplicaSet down)."""
    mine = _controller_uid(pod)
    running = [p for p in pods if _controller_uid(p) != mine and _controller_uid(p) not in raised_late
               and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    return [f"deployment {key} (Recreate): pod {meta(pod).get('name')} created while pod {meta(p).get('name')} "
            f"of an older ReplicaSet still runs" for p in running[:1]]


def namespace_left_problems(namespace: str, objects: Iterable[dict[str, Any]]) -> list[str]:
    """The namespace just left the store: nothing may be left in it."""
    left = [obj for obj in objects if meta(obj).get("namespace") == namespace]
    return [f"namespace {namespace} was deleted while its {obj.get('kind', 'object')} {meta(obj).get('name')} "
            f"was still in it" for obj in left[:1]]


FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# How long after an object's creation the garbage collector's graph may still lack it: the graph is
# fed by one informer per resource, each a watch event or more behind the store, so an owner's
# deletion can reach it before a dependent created just before (kube's graph builder as well). A
# dependent that young is not one the collector's foreground or orphan deletion must have seen.
GRAPH_LAG_TICKS = 30


def names_owner(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether one of ``obj``'s owner references names the UID ``uid``."""
    return any(ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or ())


def orphan_problems(what: str, owner: dict[str, Any], objects: Iterable[dict[str, Any]]) -> list[str]:
    """``owner`` just left orphan deletion (its orphan finalizer removed, or the owner gone with
    it): none of ``objects`` (its dependents when it entered orphan deletion) may still name it in
    an owner reference. One that does was never released, and the collector will delete it as the
    dependent of a gone owner, the very thing the user asked it not to do."""
    uid = meta(owner).get("uid")
    named = [obj for obj in objects if names_owner(obj, uid)]
    return [f"{what} left orphan deletion while its dependent {obj.get('kind', '')} "
            f"{meta(obj).get('namespace', '')}/{meta(obj).get('name', '')} still names it as its owner: it was not "
            f"released, and will be collected" for obj in named[:1]]


def foreground_problems(what: str, owner: dict[str, Any], objects: Iterable[dict[str, Any]]) -> list[str]:
    """``owner`` just left foreground deletion (its foregroundDeletion finalizer removed, or the
    owner gone with it): none of its dependents that block its deletion (an owner reference to
    its UID with blockOwnerDeletion) may still be in the store, being deleted or not."""
    uid = meta(owner).get("uid")
    blocking = [obj for obj in objects if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                                              for ref in meta(obj).get("ownerReferences") or ())]
    return [f"{what} left foreground deletion while its dependent {obj.get('kind', '')} "
            f"{meta(obj).get('namespace', '')}/{meta(obj).get('name', '')} still blocks it" for obj in blocking[:1]]


def leader_problems(lease: str, acting: list[str]) -> list[str]:
    """At most one candidate of a Lease acts as its leader."""
    if len(acting) <= 1:
        return []
    return [f"{' and '.join(acting)} both act as leader of Lease {lease}"]


def endpoints_ready_problems(key: str, endpoints: dict[str, Any], service: dict[str, Any] | None,
                             ever_ready: Collection[str]) -> list[str]:
    """The Endpoints ``key`` were just written: each pod they list as a ready address (by the UID
    its targetRef names) has been Ready in the store at some revision up to this one, unless its
    Service publishes not-ready addresses. A cache may lag, but it holds no state the store never
    had."""
    if ((service or {}).get("spec") or {}).get("publishNotReadyAddresses"):
        return []
    never = [ref for subset in endpoints.get("subsets") or () for address in subset.get("addresses") or ()
             for ref in [address.get("targetRef") or {}]
             if ref.get("kind") == "Pod" and ref.get("uid") and ref.get("uid") not in ever_ready]
    return [f"endpoints {key} list pod {ref.get('name')} as a ready address, and it has never been Ready"
            for ref in never[:1]]


def template_key(template: dict[str, Any] | None) -> str:
    """A pod template without the ``pod-template-hash`` label (``template_hash_free``), as text:
    what "the same template" means in a set."""
    return json.dumps(template_hash_free(template), sort_keys=True)


def paused_rollout_problems(deployment: str, replica_set: dict[str, Any], unpaused: Collection[str]) -> list[str]:
    """The ReplicaSet ``replica_set`` was just created under the Deployment ``deployment`` (its
    controller, by UID): its template must be one the Deployment had in a stored version that was
    not paused (``unpaused``: those templates, as ``template_key`` gives them).

    kube's Deployment controller rolls out only a Deployment it read unpaused: syncDeployment hands
    a paused one to ``sync`` (pkg/controller/deployment/sync.go), which scales the ReplicaSets
    there are and creates none (getAllReplicaSetsAndSyncRevision with createIfNotExisted false).
    A cache that lags holds some version the store had, so a template the Deployment had
    unpaused, however long ago, is never judged; one it only ever had paused is nobody's to roll
    out."""
    if template_key((replica_set.get("spec") or {}).get("template")) in unpaused:
        return []
    return [f"deployment {deployment}: replicaset {meta(replica_set).get('name')} was created for a template the "
            f"Deployment has only ever had while paused"]


# podPhaseToOrdinal (kube pkg/controller/controller_utils.go): any other phase counts as Pending.
PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: dict[str, Any]) -> tuple[int, int, int]:
    """The first three keys of kube's scale-down order (controller_utils.go, ActivePodsWithRanks
    Less), lower first: not bound to a node before bound; Pending before Unknown before Running;
    not Ready before Ready."""
    bound = 1 if (pod.get("spec") or {}).get("nodeName") else 0
    return bound, PHASE_ORDINAL.get((pod.get("status") or {}).get("phase") or "", 0), 1 if is_ready(pod) else 0


def _selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """matchLabels only: a selector with matchExpressions selects nothing here (the rule then
    judges nothing, rather than guess)."""
    if selector.get("matchExpressions"):
        return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _ranks(pod: dict[str, Any]) -> str:
    bound, phase, ready = deletion_rank(pod)
    return f"{'bound' if bound else 'not bound'}, {(pod.get('status') or {}).get('phase') or 'no phase'}, " \
           f"{'Ready' if ready else 'not Ready'}"


def scale_down_order_problems(replica_set: dict[str, Any], deleted: list[dict[str, Any]],
                              kept: Mapping[str, list[dict[str, Any] | None]]) -> list[str]:
    """The ReplicaSet controller deleted a pod of ``replica_set``, deciding on a pod cache at one
    of a range of revisions (``deleted``: the states the store held of that pod over that range)
    and kept the pods ``kept`` (name -> the states the store held of each over the same range, None
    where it did not exist). A kept pod that was active, of ``replica_set`` and selected by it in
    every one of its states, and ranked before the deleted pod (``deletion_rank``) from each of its
    states against each of the deleted one's, must have gone first: kube's manageReplicas deletes
    the lowest ranked of the pods its cache lists (getPodsToDelete), and a cache at a revision holds
    each pod as the store did then. A deleted pod that was not the ReplicaSet's throughout tells
    nothing (another ReplicaSet's reconcile may have chosen it)."""
    uid = meta(replica_set).get("uid")
    if not deleted or not all(controlled_by(p, uid) for p in deleted):
        return []
    lowest = min(deletion_rank(p) for p in deleted)
    selector = (replica_set.get("spec") or {}).get("selector") or {}
    for name in sorted(kept):
        states = kept[name]
        if not states or any(s is None or not is_active(s) or not controlled_by(s, uid)
                             or not _selects(selector, meta(s).get("labels") or {}) for s in states):
            continue
        if max(deletion_rank(s) for s in states if s is not None) < lowest:
            return [f"replicaset {meta(replica_set).get('namespace')}/{meta(replica_set).get('name')}: the scale-down "
                    f"deleted pod {meta(deleted[-1]).get('name')} ({_ranks(deleted[-1])}) and kept pod {name} "
                    f"({_ranks(states[-1])}), which ranked before it throughout"]
    return []


# ----- CTRL-JOB-COUNTED -------------------------------------------------------------------------------

def pod_outcome(pod: dict[str, Any] | None, before: str | None) -> str | None:
    """What has become of a pod of a Job, given its new stored state (None: gone from the store)
    and the outcome of its earlier states: None (still running or waiting), "deleting" (being
    deleted, no terminal phase yet), "failed", "succeeded", or "either" (it Succeeded only after
    its deletion began: its Job controller may have counted it as failed already)."""
    if pod is None:
        return before or "deleting"  # gone without a terminal phase: deleted before it succeeded
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return {"deleting": "either", "either": "either", "failed": "failed"}.get(before or "", "succeeded")
    if phase == "Failed":
        return before if before in ("succeeded", "either") else "failed"
    if meta(pod).get("deletionTimestamp"):
        return before or "deleting"
    return before


def _job_condition(job: dict[str, Any], *types: str) -> bool:
    return any(c.get("type") in types and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or ())


def job_finished(job: dict[str, Any]) -> bool:
    return _job_condition(job, "Complete", "Failed")


def job_backoff_problems(key: str, job: dict[str, Any], ended: Sequence[str]) -> list[str]:
    """A Job Complete although more than backoffLimit of its pods failed (or were deleted before
    they succeeded) before its last needed success; ``ended``: the final outcomes of its pods in
    the order they ended. A pod informer delivers the store's changes in order, so the sync that
    saw the last success saw those failures too, and kube's syncJob checks the backoff limit
    before completion (a pod that succeeded while being deleted may have been counted either way)."""
    spec = job.get("spec") or {}
    completions, limit = int(spec.get("completions", 1)), int(spec.get("backoffLimit", 6))
    complete = _job_condition(job, "Complete")
    succeeded = failed = 0
    for outcome in ended:
        if succeeded >= completions:
            break
        succeeded += outcome == "succeeded"
        failed += outcome in ("failed", "deleting")
    if complete and succeeded >= completions and failed > limit:
        return [f"job {key}: Complete, but {failed} of its pods failed or were deleted before they succeeded "
                f"ahead of its {completions} completions: more than its backoffLimit {limit}, so it should "
                f"have failed"]
    return []


def job_count_problems(key: str, job: dict[str, Any], outcomes: Collection[str]) -> list[str]:
    """The Job's status against the outcomes (``pod_outcome``) of the pods it controlled that
    ended: as many counted as ended, the succeeded ones at least as succeeded and those that never
    succeeded at least as failed."""
    status = job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    succeeded = int(status.get("succeeded") or 0) + len(uncounted.get("succeeded") or ())
    failed = int(status.get("failed") or 0) + len(uncounted.get("failed") or ())
    ended = [outcome for outcome in outcomes if outcome is not None]
    surely_succeeded = ended.count("succeeded")
    surely_failed = ended.count("failed") + ended.count("deleting")
    # A Job that finished counts as failed each pod its controller had not yet seen succeed, a
    # pod cache behind the kubelet's report of success included (kube 1.27-1.30's
    # trackJobStatusAndRemoveFinalizers: finishedCond != nil).
    least_succeeded = 0 if job_finished(job) else surely_succeeded
    if succeeded + failed == len(ended) and least_succeeded <= succeeded <= len(ended) - surely_failed:
        return []
    return [f"job {key}: {len(ended)} of its pods ended ({surely_succeeded} succeeded, {surely_failed} failed or "
            f"deleted before they succeeded, {ended.count('either')} succeeded while being deleted), but its status "
            f"counts succeeded {succeeded} and failed {failed}"]
