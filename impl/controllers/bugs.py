"""The controllers bug catalog: each bug a small override of one method of the reference (or of
one strategy attribute), plugged into the simulated cluster through ``ControllersParts``
(impl/controllers/parts.py): ``attrs.evolve(ControllersParts(), replicaset=SubClass)``.

Read each broken method beside the reference one it replaces (named in its docstring). Most are
bugs real controllers shipped, and most stay hidden until something perturbs the controller: a
restart, a cache that lags, a lost event, a crash between two writes (Sieve's three
perturbations), or a rollout under way.
"""

from __future__ import annotations

import copy

import attrs

from impl.apiserver.objectmeta import timestamp
from impl.catalog import Bug
from impl.controllers.api import Answer, Result, Watch
from impl.controllers.deployment import (
    REVISION, DeploymentController, _spec, _status, replicas, revision, value_from_int_or_percent,
)
from impl.controllers.endpoints import EndpointsController, _services_of_pod
from impl.controllers.garbagecollector import (
    FOREGROUND, ORPHAN, GarbageCollector, _being_deleted, _has_finalizer, _refs, deleting_dependents,
    request_of,
)
from impl.controllers.host import ControllerHost
from impl.controllers.job import JobController
from impl.controllers.leaderelection import CONFLICT, LeaderElector
from impl.controllers.parts import ControllersParts
from impl.controllers.podtemplate import WriteRefused, meta, normalized
from impl.controllers.replicaset import ReplicaSetController
from impl.controllers.scheduler import Scheduler

__all__ = ["BUGS"]

REFERENCE = ControllersParts()


# ----- the ReplicaSet controller ------------------------------------------------------------------

class NoExpectations(ReplicaSetController):
    """``ReplicaSetController.expectations_satisfied``: always satisfied, so a reconcile that runs
    before the pod cache has seen the previous reconcile's creates counts too few pods and
    creates them again (kube's ControllerExpectations exist for exactly this)."""

    def expectations_satisfied(self, key):
        return True


class DeletesFirstListed(ReplicaSetController):
    """``ReplicaSetController.pods_to_delete``: a scale-down deletes the first pods of the list
    (claim's name order) without ranking them, as the replication controller did before it took
    phase and readiness into account: a pod that is Running and Ready goes while one that is
    unscheduled, still starting or crash-looping stays."""

    def pods_to_delete(self, rs, pods, count, cache):
        return pods[:count]


# ----- the controller host -----------------------------------------------------------------------

class WorkBeforeCacheSync(ControllerHost):
    """``ControllerHost.caches_synced``: workers take keys as soon as they are queued, without
    waiting for every informer their reconciler reads to have listed (client-go's
    WaitForCacheSync). A new leader lists Deployments before ReplicaSets: its Deployment
    controller sees a Deployment whose template changed and no ReplicaSet at all, and creates the
    new one at full size while the old ones still run their pods (and a ReplicaSet listed before
    its pods is given a full set again)."""

    def caches_synced(self, controller):
        return True


# ----- the garbage collector ------------------------------------------------------------------------

class OwnerByName(GarbageCollector):
    """``GarbageCollector.same_owner``: the live owner is matched by name only, not by the UID
    the reference names, so the dependents of an owner deleted and created again under its name
    are taken for the new owner's and kept for ever."""

    @staticmethod
    def same_owner(owner, ref):
        return True


class CollectsOnOwnerDeleteOnly(GarbageCollector):
    """``GarbageCollector.affected``: an object is never queued for its own owner references, only
    as a dependent of an owner whose delete event arrives (kube's graph builder also queues an
    object whose owner it has never seen, as a virtual node). The dependents of an owner deleted
    while no controller manager led, or created after their owner's delete event, stay for ever."""

    def affected(self, resource, obj, cache):
        requests = []
        if _being_deleted(obj) and (_has_finalizer(obj, ORPHAN) or _has_finalizer(obj, FOREGROUND)):
            requests.append(request_of(resource, obj))
        if self.gone(resource, obj, cache) or deleting_dependents(obj):
            requests += [request_of(kind, dep) for kind, dep in self.dependents(meta(obj).get("uid", ""), cache)]
        for ref in _refs(obj):
            owner_kind, owner = self.cached_owner(ref, meta(obj).get("namespace") or "", cache)
            if owner is not None and deleting_dependents(owner):
                requests.append(request_of(owner_kind, owner))
        return requests


class OwnerGoneFromCache(GarbageCollector):
    """``GarbageCollector.attempt_to_delete``: an object none of whose owners its cache shows is
    deleted at once, without the live GET by UID (a shortcut: "the informer would have seen them").
    Whatever the cache has not seen yet loses its dependents: after a relist (leases are listed
    before nodes) the Lease of a node that has just registered again is deleted under its Node."""

    def attempt_to_delete(self, resource, obj, cache, client):
        namespace = meta(obj).get("namespace") or ""
        if all(self.cached_owner(ref, namespace, cache)[1] is None for ref in _refs(obj)):
            return (yield from self.delete_object(resource, obj, self.own_policy(obj), client))
        return (yield from super().attempt_to_delete(resource, obj, cache, client))


class FinalizerGoesBeforeRelease(GarbageCollector):
    """``GarbageCollector.orphan_dependents``: the orphan finalizer goes first, and only then do
    the dependents let go of the owner. For as long as the releases take (for ever, if the
    collector crashes or a release is refused in between), the dependents name an owner that is
    gone, and the collector's next look at them deletes them: the dependents the user asked to
    keep."""

    def orphan_dependents(self, resource, owner, cache, client):
        if not (yield from self.remove_finalizer(resource, owner, ORPHAN, client)):
            return False
        return (yield from self.release_dependents(meta(owner).get("uid", ""), cache, client))


# ----- the Endpoints controller ---------------------------------------------------------------

class LabelsCopiedOnUpdateEvent(EndpointsController):
    """``EndpointsController.wanted_labels``: the Service's labels are copied onto its Endpoints
    when they are created, and afterwards only when a Service update event shows the labels
    changing (remembered by ``observe``). A label change no running leader saw as an event (it
    came while the leader was down, and the next one listed the Service already changed) never
    reaches the Endpoints: the classic edge-triggered operator."""

    def __init__(self):
        super().__init__()
        self.relabelled: set[tuple[str, str]] = set()

    def observe(self, resource, change, old, new):
        if resource == "services" and change == "update" and meta(old).get("labels") != meta(new).get("labels"):
            self.relabelled.add((meta(new).get("namespace", ""), meta(new).get("name", "")))

    def wanted_labels(self, service, current):
        key = (meta(service).get("namespace", ""), meta(service).get("name", ""))
        if current is None or key in self.relabelled:
            return self.labels_for(service)
        return dict(meta(current).get("labels") or {})


class EndpointsNeverRechecked(EndpointsController):
    """``EndpointsController.watches``: Endpoints events queue nothing, so Endpoints are looked at
    only when an event of their Service (or of a pod it selects) arrives. A reconcile whose cache
    still shows a Service the user has just deleted creates its Endpoints after the delete event
    has come and gone: nothing ever names them again (kube deletes them by name whatever its
    cache says, and lists the leftovers at start: checkLeftoverEndpoints)."""

    watches = (Watch("services"), Watch("pods", enqueue=_services_of_pod), Watch("endpoints", enqueue=None))


class PublishesNotReadyAddresses(EndpointsController):
    """``EndpointsController.endpoints_for``: every Service is taken as one that publishes
    not-ready addresses (as the tolerate-unready-endpoints annotation, meant for a StatefulSet's
    peer discovery, asks): a pod is a ready address as soon as it has an IP, before it is Ready,
    and a crash-looping release takes traffic."""

    def endpoints_for(self, service, pods):
        tolerant = copy.deepcopy(service)
        tolerant.setdefault("spec", {})["publishNotReadyAddresses"] = True
        return super().endpoints_for(tolerant, pods)


# ----- the Deployment controller --------------------------------------------------------------

class WaitsForAnotherWorker(DeploymentController):
    """``DeploymentController.sync_existing_new``: a new ReplicaSet newer than the Deployment's
    revision, while its status has not observed the generation, is taken for a rollout another
    worker has begun (kube's create path writes the revision right after the create): the
    reconcile steps back and waits. After a crash between the two writes nobody ever writes it,
    and the rollout never goes on."""

    def sync_existing_new(self, d, rs, new_revision, client):
        ours = int((meta(d).get("annotations") or {}).get(REVISION) or 0)
        observed = int(_status(d).get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0)
        if (revision(rs) or 0) > ours and not observed:
            raise WriteRefused(f"replicaset {meta(rs)['name']} is another worker's rollout", Answer(409))
        return (yield from super().sync_existing_new(d, rs, new_revision, client))


class PausedSyncCreatesNew(DeploymentController):
    """``DeploymentController.sync``: a paused Deployment's sync creates its new template's
    ReplicaSet when there is none (getAllReplicaSetsAndSyncRevision with createIfNotExisted true,
    as a rollout calls it, where kube's sync passes false), sized as a rollout sizes it (up to
    maxSurge), so a template changed while paused starts to roll out at once."""

    def sync(self, d, rs_list, cache, client):
        if _spec(d).get("paused") and self.find_new(d, rs_list) is None:
            yield from self.all_replica_sets(d, rs_list, True, cache, client)
            return Result(requeue=True)
        return (yield from super().sync(d, rs_list, cache, client))


class UnavailableRoundedUp(DeploymentController):
    """``DeploymentController.scale_down_old_for_rolling_update``: maxUnavailable as a
    percentage is rounded up (kube rounds it down, and maxSurge up: ResolveFenceposts), so a
    rolling update of 3 replicas at 25% scales an old ReplicaSet down by an available pod more
    than the user allowed."""

    def scale_down_old_for_rolling_update(self, all_rss, old_rss, d, client):
        rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
        rounded_up = value_from_int_or_percent(rolling.get("maxUnavailable"), replicas(d), round_up=True)
        d = copy.deepcopy(d)
        d["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {**rolling, "maxUnavailable": rounded_up}}
        return (yield from super().scale_down_old_for_rolling_update(all_rss, old_rss, d, client))


class ConditionStampedEverySync(DeploymentController):
    """``DeploymentController.calculate_status``: the Available condition's lastUpdateTime is
    stamped with the time of every sync (kube's SetDeploymentCondition keeps a condition as it is
    while its status and reason stay), so every sync writes a new status, whose event queues the
    next sync: the controller writes for ever at its fixpoint."""

    def calculate_status(self, all_rss, new_rs, d):
        status = super().calculate_status(all_rss, new_rs, d)
        for condition in status["conditions"]:
            if condition["type"] == "Available":
                condition["lastUpdateTime"] = timestamp(self.clock())
        return status


class StatusBeforeNewReplicaSet(DeploymentController):
    """``DeploymentController.rollout_rolling``: the status is written first, from the
    ReplicaSets as they are, the newest one's pods counted as updated and the generation as
    observed, before the new template's ReplicaSet is created: ``kubectl rollout status`` reads
    a finished rollout that has not begun."""

    def rollout_rolling(self, d, rs_list, cache, client):
        newest = max(rs_list, key=lambda rs: revision(rs) or 0, default=None)
        status = self.calculate_status(rs_list, newest, d)
        if normalized(status) != normalized(_status(d)):
            d = yield from self.write_status(d, status, client)
        return (yield from super().rollout_rolling(d, rs_list, cache, client))


# ----- the Job controller --------------------------------------------------------------------------

class FinalizerRemovedBeforeCounted(JobController):
    """``JobController.track_and_remove_finalizers``: the finished pods' tracking finalizers go
    first, and their outcome reaches the status only in one write afterwards, without the
    ``uncountedTerminatedPods`` step. A crash, or a status write that fails (a 409 on a cache
    behind the controller's own last write), between the two, and the pod, free of its finalizer,
    is counted by no one: the Job runs it again."""

    def track_and_remove_finalizers(self, view, client, now):
        holding = {meta(pod)["uid"] for pod in view.pods if self.tracking(view.job, pod)}
        changed = self.status_changed(view)
        releasing, _ = self.record_uncounted(view)
        everything = yield from self.remove_finalizers(view, releasing, holding, client)
        moved = self.count_released(view, holding)
        finished = self.enact_finished(view)
        if changed or moved or finished:
            if not (yield from self.write_status(view, client)):
                return False
            self.record_finished(view, now)
        return everything


# ----- the scheduler -------------------------------------------------------------------------------

class AssumedForgottenOnBind(Scheduler):
    """``Scheduler.bound``: the assumed pod is forgotten as soon as its bind is answered, not kept
    until the informer shows it bound (kube before 1.23 expired assumed pods 30 s after binding,
    however far its informer lagged): until that event comes, the room it took looks free."""

    def bound(self, pod, answer):
        self.forget(pod)
        return super().bound(pod, answer)


# ----- leader election ---------------------------------------------------------------------------

class LeadsWhileRenewHangs(LeaderElector):
    """``LeaderElector.is_leader``: leading is the flag alone, not the renew deadline; the flag
    is cleared when the elector next checks its deadline, which waits for the renew request in
    flight. A leader cut off from the API servers acts until that request times out, long after
    another candidate has taken the Lease (client-go's renew without a timeout context)."""

    def is_leader(self, now):
        return self._leading


class HostLeadsWhileRenewHangs(ControllerHost):
    """``ControllerHost.elector_class``: the elector above."""

    elector_class = LeadsWhileRenewHangs


class GivesUpOnConflict(LeaderElector):
    """``LeaderElector.on_write_result``: a renew answered 409 Conflict ends the leadership at
    once, the Lease unread: the leader takes it that someone else holds the Lease, when someone
    only wrote to it (a hand-written lock's "the object has been modified, so we lost it")."""

    def on_write_result(self, outcome, now, lease=None):
        if outcome == CONFLICT and self._leading and not (self._abandoned or self._releasing):
            self._take_answer(None)
            self._optimistic = False
            self._step_down(now, "stopped leading: the renew conflicted")
            return
        super().on_write_result(outcome, now, lease)


class HostGivesUpOnConflict(ControllerHost):
    """``ControllerHost.elector_class``: the elector above."""

    elector_class = GivesUpOnConflict


BUGS = (
    Bug("no-expectations-overshoot", "controllers", "CTRL-ROLLOUT-SURGE",
        "The ReplicaSet controller keeps no expectations: a reconcile on a cache that has not yet seen the "
        "previous reconcile's creates creates the pods again, beyond replicas + maxSurge.",
        "kube pkg/controller/controller_utils.go (ControllerExpectations: a sync waits until the informer "
        "has seen the creates and deletes of the last one); pkg/controller/replicaset/replica_set.go",
        attrs.evolve(REFERENCE, replicaset=NoExpectations)),
    Bug("scale-down-deletes-first-listed", "controllers", "CTRL-SCALE-DOWN-ORDER",
        "The ReplicaSet controller scales down by deleting the first pods it lists, unranked: a Ready pod goes "
        "while a crash-looping or unscheduled one of the same ReplicaSet stays.",
        "kubernetes/kubernetes#3948 ('Kubernetes killing running pods instead of unassigned when reducing "
        "replicas') and #14396; kube pkg/controller/replicaset (getPodsToDelete sorts by "
        "controller.ActivePodsWithRanks); Kubernetes documentation, \"ReplicaSet\" (Scaling a ReplicaSet)",
        attrs.evolve(REFERENCE, replicaset=DeletesFirstListed)),
    Bug("reconcile-before-cache-sync", "controllers", "CTRL-ROLLOUT-SURGE",
        "A controller manager's workers start before every informer they read has synced: a new leader's "
        "Deployment controller sees no ReplicaSet and creates the new template's at full size beside the old.",
        "client-go tools/cache WaitForCacheSync (every kube controller's Run waits on it before starting "
        "its workers); Sieve (OSDI 2022), a controller restart",
        attrs.evolve(REFERENCE, host=WorkBeforeCacheSync)),
    Bug("owner-by-name-not-uid", "controllers", "CTRL-NO-LEAK",
        "The garbage collector matches a dependent's owner by name instead of UID: the ReplicaSet and pods "
        "of a Deployment deleted and created again under the same name are kept for ever.",
        "Kubernetes documentation, \"Garbage Collection\" (owner references name the owner's UID); kube "
        "pkg/controller/garbagecollector (isDangling compares the UID of the live owner)",
        attrs.evolve(REFERENCE, garbage_collector=OwnerByName)),
    Bug("orphan-finalizer-removed-before-release", "controllers", "CTRL-GC-LIVE-OWNER",
        "The garbage collector removes an owner's orphan finalizer before its dependents let go of it: the "
        "owner is gone while they still name it, and they are collected instead of kept.",
        "kube pkg/controller/garbagecollector (attemptToOrphanWorker: orphanDependents, then "
        "removeFinalizer, and only if every release succeeded); Kubernetes documentation, \"Garbage "
        "Collection\" (orphan propagation leaves the dependents); Sieve (OSDI 2022), intermediate states",
        attrs.evolve(REFERENCE, garbage_collector=FinalizerGoesBeforeRelease)),
    Bug("cleanup-only-on-delete-event", "controllers", "CTRL-NO-LEAK",
        "The garbage collector collects dependents only when it sees their owner's delete event: the "
        "ReplicaSet and pods of a Deployment deleted while no controller manager led are never collected.",
        "Sieve (OSDI 2022), unobserved states; controller-runtime, \"level-based, not edge-based\"; kube "
        "pkg/controller/garbagecollector/graph_builder.go (processGraphChanges queues an object whose owner "
        "is not in the graph: a virtual node, checked by attemptToDeleteItem)",
        attrs.evolve(REFERENCE, garbage_collector=CollectsOnOwnerDeleteOnly)),
    Bug("crash-between-writes-stuck", "controllers", "CTRL-CONVERGES",
        "The Deployment controller takes a new ReplicaSet the Deployment's revision does not yet name for "
        "another worker's rollout in progress and waits: after a crash between creating it and writing "
        "the revision, it waits for ever.",
        "Sieve (OSDI 2022), intermediate states (a crash between two writes of one reconcile leaves a state "
        "the restarted controller misreads and never repairs: rabbitmq-operator, cass-operator)",
        attrs.evolve(REFERENCE, deployment=WaitsForAnotherWorker)),
    Bug("paused-sync-creates-new-replicaset", "controllers", "CTRL-PAUSED-NO-ROLLOUT",
        "A paused Deployment's sync creates the ReplicaSet of a template changed while paused, and sizes it as "
        "a rollout would: the new release starts before the user resumes.",
        "Kubernetes documentation, \"Deployments\" (Pausing and Resuming a rollout of a Deployment); kube "
        "pkg/controller/deployment/sync.go (sync: getAllReplicaSetsAndSyncRevision with createIfNotExisted "
        "false) and kubernetes/kubernetes#20273 (paused Deployments are scaled, never rolled out)",
        attrs.evolve(REFERENCE, deployment=PausedSyncCreatesNew)),
    Bug("rolling-update-rounding", "controllers", "CTRL-ROLLOUT-AVAILABLE",
        "A rolling update rounds maxUnavailable up from a percentage (kube rounds it down): 3 replicas at "
        "25% lose an available pod the user did not allow.",
        "kube pkg/controller/deployment/util (ResolveFenceposts: maxSurge rounds up, maxUnavailable down); "
        "Kubernetes documentation, \"Deployments\" (Max Unavailable)",
        attrs.evolve(REFERENCE, deployment=UnavailableRoundedUp)),
    Bug("gc-deletes-with-live-owner", "controllers", "CTRL-GC-LIVE-OWNER",
        "The garbage collector takes an owner its cache does not show for gone, without a live GET by UID: "
        "the Lease of a node that registered again is deleted when its informers list leases before nodes.",
        "kube pkg/controller/garbagecollector (attemptToDeleteItem, isDangling: the owner is read live, "
        "by the UID the reference names, not from the graph)",
        attrs.evolve(REFERENCE, garbage_collector=OwnerGoneFromCache)),
    Bug("job-finalizer-removed-before-counted", "controllers", "CTRL-JOB-COUNTED",
        "The Job controller removes a finished pod's tracking finalizer before the status records it: a "
        "crash or a failed status write in between, and the pod is counted by no one and run again.",
        "KEP-2307 (Job tracking with finalizers: a finished pod's UID goes to "
        "status.uncountedTerminatedPods before its finalizer is removed, so that a crash loses no pod); "
        "kube pkg/controller/job (trackJobStatusAndRemoveFinalizers, flushUncountedAndRemoveFinalizers)",
        attrs.evolve(REFERENCE, job=FinalizerRemovedBeforeCounted)),
    Bug("two-leaders-both-act", "controllers", "CTRL-SINGLE-LEADER",
        "A leader whose renew request hangs keeps acting past its renew deadline, while another candidate "
        "takes the Lease once it expires.",
        "client-go tools/leaderelection (RenewDeadline; the renew runs under a timeout context)",
        attrs.evolve(REFERENCE, host=HostLeadsWhileRenewHangs)),
    Bug("renew-gives-up-on-conflict", "controllers", "CTRL-LEADER-KEEPS-LEASE",
        "A leader whose renew is answered 409 Conflict (someone annotated its Lease) stops leading at once, "
        "instead of reading the Lease again and renewing until its renew deadline.",
        "client-go tools/leaderelection (tryAcquireOrRenew retries every RetryPeriod until RenewDeadline; "
        "the optimistic update falls back to a get, kubernetes/kubernetes#122069); "
        "awslabs/volume-modifier-for-k8s#13 (csi-resizer exits when its Lease was modified)",
        attrs.evolve(REFERENCE, host=HostGivesUpOnConflict)),
    Bug("assumed-pod-forgotten-on-bind", "controllers", "CTRL-NODE-FITS",
        "The scheduler forgets each pod it assumed on a node once the bind is answered, before its informer "
        "shows the pod bound: a pod scheduled in between sees that room free, and nodes are overcommitted.",
        "kubernetes/kubernetes#106361 (assumed pods expired 30 s after binding while the informer lagged; "
        "#106412 keeps them 2 minutes); kube pkg/scheduler/internal/cache (AssumePod, FinishBinding, "
        "AddPod confirms an assumed pod)",
        attrs.evolve(REFERENCE, scheduler=AssumedForgottenOnBind)),
    Bug("condition-stamped-every-sync", "controllers", "CTRL-FIXPOINT-QUIET",
        "The Deployment controller stamps its Available condition with the time of every sync: each status "
        "write's event queues another sync, which writes again, for ever.",
        "kube pkg/controller/deployment/util (SetDeploymentCondition returns early when the status and reason "
        "are unchanged); controller-runtime, \"reconcile is idempotent\"",
        attrs.evolve(REFERENCE, deployment=ConditionStampedEverySync)),
    Bug("stale-cache-recreates-deleted", "controllers", "CTRL-NO-LEAK",
        "The Endpoints controller, on a cache that still shows a Service the user has just deleted, creates "
        "its Endpoints after the delete event has passed, and never looks at them again: Endpoints events "
        "queue nothing.",
        "Sieve (OSDI 2022), stale states; kube pkg/controller/endpoint (syncService deletes the Endpoints of a "
        "missing Service by name, whatever the cache holds; checkLeftoverEndpoints)",
        attrs.evolve(REFERENCE, endpoints=EndpointsNeverRechecked)),
    Bug("labels-copied-on-update-event", "controllers", "CTRL-LEVEL-TRIGGERED",
        "The Endpoints controller copies a Service's labels onto its Endpoints only when it sees an update "
        "event change them: a relabel made while no leader watched never reaches the Endpoints.",
        "controller-runtime, \"level-based, not edge-based\"; Sieve (OSDI 2022), unobserved states; kube "
        "pkg/controller/endpoint (syncService sets the Endpoints' labels from the Service on every sync)",
        attrs.evolve(REFERENCE, endpoints=LabelsCopiedOnUpdateEvent)),
    Bug("endpoints-publish-not-ready", "controllers", "CTRL-ENDPOINTS-READY",
        "The Endpoints controller publishes every selected pod that has an IP as a ready address, as if each "
        "Service set publishNotReadyAddresses: a starting pod, or a rollout's crash-looping one, takes traffic.",
        "kubernetes/kubernetes#61223 ('ReadinessProbe fails, but pod is added to endpoints': a broken rollout "
        "took the site down) and #75889; kube pkg/controller/endpoint (tolerate-unready-endpoints, #25284, "
        "is the exception a Service asks for, podutil.IsPodReady the rule)",
        attrs.evolve(REFERENCE, endpoints=PublishesNotReadyAddresses)),
    Bug("status-from-stale-generation", "controllers", "CTRL-STATUS-OBSERVED",
        "The Deployment controller writes status first: it stamps observedGeneration and counts the last "
        "rollout's pods as updated before the new template's ReplicaSet exists.",
        "Kubernetes API conventions, \"observedGeneration\"; kubectl rollout status; kube "
        "pkg/controller/deployment (syncRolloutStatus runs after the new ReplicaSet is created)",
        attrs.evolve(REFERENCE, deployment=StatusBeforeNewReplicaSet)),
)
