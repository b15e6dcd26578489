"""The controllers' safety invariants, judged on a run as it goes (spec/controllers/safety.py has
the rules; spec/controllers/invariants.py states them).

``SafetyObserver.after_tick`` runs at the end of every tick of the world:

- it replays every change the store committed since (the apiserver ``Observer``'s ``changes``)
  into its own view, one revision at a time, and judges each against the rules that speak of
  one revision: CTRL-STATUS-OBSERVED on a Deployment's status write, CTRL-ROLLOUT-SURGE and
  CTRL-ROLLOUT-AVAILABLE on a change of a pod of a Deployment;
- it judges the garbage collector's deletes as their answers come in (CTRL-GC-LIVE-OWNER: the
  request names who made it, by its User-Agent), each owner that leaves foreground deletion
  against what still blocks it, and each that leaves orphan deletion against what still names it; and each namespace that leaves the store against what is still
  in it (CTRL-NO-LEAK);
- it remembers which pods have been Ready, and judges each Endpoints write against that
  (CTRL-ENDPOINTS-READY);
- and which hosts act as leader of each Lease (CTRL-SINGLE-LEADER);
- it follows what became of each pod of each Job (``pod_outcome``), for the Job's count at the
  fixpoint (CTRL-JOB-COUNTED, judged by ``job_count_problems`` once the run has settled);
- it remembers which templates each Deployment had in a version that was not paused, and judges
  each ReplicaSet created under a Deployment against that (CTRL-PAUSED-NO-ROLLOUT);
- it judges each bind (a pod's nodeName set) against the pods bound to that node in the store
  at that revision (CTRL-NODE-FITS), unless the scheduler restarted or sent a write whose outcome
  it could not know within a request timeout;
- it keeps each pod's stored states by revision, and notes at the end of every tick the
  resourceVersion of each controller host's pod cache; each pod delete the ReplicaSet controller
  sends (by its User-Agent) is judged against the pods of that ReplicaSet the same reconcile keeps,
  as the store held them at the revisions that cache was at over the tick (CTRL-SCALE-DOWN-ORDER).

The rollout rules hold while nodes are healthy and every request has a known outcome: the
harness calls ``fault`` when a kubelet or node fails, a link is cut, an instance is made to
lag, the network drops messages, or a write of a controller is never answered or answered 5xx,
and the rollout rules are not judged after that in the run (a controller crash, a leader change,
hidden events and an admission webhook's refusals, whose outcome is known, do not excuse them:
the controllers must stay within the bounds through those).
CTRL-PAUSED-NO-ROLLOUT holds whatever fails, and so does CTRL-SCALE-DOWN-ORDER, judged on the
states the deleting controller's pod cache held (a cache at a resourceVersion holds the store's
pods at that revision, however far behind it is).
"""

from __future__ import annotations

import json
from typing import Any

from impl.apiserver.client import CallRecord
from impl.apiserver.requestinfo import request_info
from impl.apiserver.status import ApiError
from checks.controllers.commands import WEBHOOK_REFUSAL
from checks.controllers.fixpoint import WRITE_METHODS
from impl.controllers.api import controller_owner
from impl.controllers.connection import decoded
from spec.controllers.desired import is_available, is_ready, meta
from spec.controllers.invariants import (
    ENDPOINTS_READY, GC_LIVE_OWNER, NO_LEAK, PAUSED_NO_ROLLOUT, ROLLOUT_AVAILABLE, ROLLOUT_SURGE, SCALE_DOWN_ORDER,
    LEADER_KEEPS_LEASE, LEASE_FAULT_TICKS, LEASE_TOUCH_TICKS, NODE_FITS, SCALE_SETTLE_TICKS, SINGLE_LEADER,
    STATUS_OBSERVED,
)
from spec.controllers.scheduling import overcommit_problems
from spec.controllers.safety import (
    FOREGROUND, GRAPH_LAG_TICKS, ORPHAN, STALE_STATUS_TICKS, endpoints_ready_problems, foreground_problems, gc_delete_problems,
    job_backoff_problems, job_count_problems, job_finished, leader_problems, names_owner, namespace_left_problems,
    orphan_problems, overcounted,
    paused_rollout_problems, pod_outcome, pods_of_deployment, ready_not_available,
    recreate_problems, scale_down_order_problems, spec_excess, spec_replicas, stale_view_excess, status_problems,
    surge_problems, template_key, unavailable_problems,
)
from spec.invariant import Invariant

__all__ = ["SafetyObserver", "GC_USER_AGENT", "REPLICASET_USER_AGENT"]

GC_USER_AGENT = "kinv/garbage-collector"
REPLICASET_USER_AGENT = "kinv/replicaset"


def _refused_by_webhook(call: CallRecord) -> bool:
    """A 500 whose outcome is known: the admission webhook was not reached, nothing was stored."""
    return WEBHOOK_REFUSAL in str((call.response.body or {}).get("message", ""))


def _user_agent(call: CallRecord) -> str:
    return next((value for key, value in call.request.headers if key == "User-Agent"), "")


def _owner_uid(obj: dict[str, Any]) -> str | None:
    return next((ref.get("uid") for ref in meta(obj).get("ownerReferences") or () if ref.get("controller")), None)


def _job_uid(pod: dict[str, Any]) -> str | None:
    """The UID of the Job that controls the pod (None: no Job does)."""
    ref = controller_owner(pod) or {}
    return ref.get("uid") if ref.get("kind") == "Job" else None


def _no_execute(node: dict[str, Any]) -> set[str]:
    return {t.get("key") for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"}


def _body_field(call: CallRecord, field: str) -> Any:
    try:
        body = json.loads(call.request.body) if call.request.body else None
    except ValueError:
        return None
    return body.get(field) if isinstance(body, dict) else None


def _entered(finalizer: str, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> bool:
    """The change put the finalizer on (foregroundDeletion, orphan: the delete that asked for it)."""
    return obj is not None and finalizer in (meta(obj).get("finalizers") or ()) and \
        finalizer not in (meta(previous or {}).get("finalizers") or ())


def _left(finalizer: str, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> bool:
    """The change took the finalizer off (or the object went with it)."""
    return previous is not None and finalizer in (meta(previous).get("finalizers") or ()) and \
        (obj is None or finalizer not in (meta(obj).get("finalizers") or ()))


class SafetyObserver:
    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.view: dict[str, dict[str, dict[str, Any]]] = {}  # storage resource -> key -> object
        self.by_uid: dict[str, dict[str, Any]] = {}
        self.gone: dict[tuple[str, str], dict[str, Any]] = {}  # (storage resource, key) -> the object deleted last
        self._changes_read = 0
        self._calls_read = 0
        # Controller writes not answered yet, by position in the log, with the connection that sent them.
        self._pending: dict[int, tuple[CallRecord, Any]] = {}
        self.healthy = True  # no fault yet that excuses the rollout bounds
        self.faults: list[str] = []
        self._scaled: dict[str, tuple[int, int]] = {}  # deployment uid -> (spec.replicas, the tick it was set)
        # For the surge bound: when each pod appeared and each ReplicaSet was last scaled down, by
        # position in the store's changes (pods older than their ReplicaSet's scale-down are its
        # controller's to delete, not a surge).
        self._born: dict[str, int] = {}  # pod uid -> position
        self._scaled_down: dict[str, int] = {}  # ReplicaSet uid -> position
        # And per Deployment the last changes of its ReplicaSets' spec.replicas (tick, ReplicaSet
        # uid, before, after), and how far a scale-up on a view that missed some of them let the
        # sum of those exceed replicas + maxSurge.
        self._spec_changes: dict[str, list[tuple[int, str, int, int]]] = {}  # Deployment uid -> changes
        self._stale_excess: dict[str, int] = {}  # Deployment uid -> excess
        self._waits_for: dict[str, set[str]] = {}  # owner uid -> what existed when it entered foreground deletion
        self._orphaning: dict[str, set[str]] = {}  # owner uid -> what existed when it entered orphan deletion
        self._created_at: dict[str, int] = {}  # uid -> the tick the store created it
        # For Recreate: when each Deployment's template last changed, and each ReplicaSet was last scaled up.
        self._template_at: dict[str, tuple[str, int]] = {}  # Deployment uid -> (template_key, tick)
        self._raised_at: dict[str, int] = {}  # ReplicaSet uid -> tick
        self._raised_stale: set[str] = set()  # ReplicaSets last scaled up while not of their Deployment's template
        self._ever_ready: set[str] = set()  # the UIDs of the pods that have been Ready at some revision
        # For the availability bound: each ReplicaSet's last status that counted more available
        # replicas than its spec, or than its lowest spec since the generation the status observed
        # (how many more, and the tick it was replaced, None while stored), the spec of each of
        # its generations, and per ReplicaSet what the others' such statuses overcounted when it
        # was last scaled down.
        self._overcounts: dict[str, tuple[int, int | None]] = {}  # ReplicaSet uid -> (overcount, until)
        self._scaled_down_overcount: dict[str, int] = {}  # ReplicaSet uid -> the others' overcount
        self._scaled_down_at: dict[str, int] = {}  # ReplicaSet uid -> the tick of its last scale-down
        self._spec_by_generation: dict[str, dict[int, int]] = {}  # ReplicaSet uid -> generation -> spec.replicas
        self._unpaused: dict[str, set[str]] = {}  # Deployment uid -> template_key of its unpaused versions
        # For the scale-down order: each pod's stored states (revision, state; None: gone), back to
        # the oldest revision a controller host's pod cache is at; that cache (the informer, and its
        # resourceVersion) at the end of the last tick, per host; and the ReplicaSet controller's
        # requests that may come before its deletes in a reconcile (a claim's
        # adoptions and releases of pods) in flight, and when each host's last one was answered.
        self._revision = 0  # of the change being applied
        self._pod_states: dict[str, list[tuple[int, dict[str, Any] | None]]] = {}  # pod uid -> states
        self._pod_caches: dict[str, tuple[Any, int]] = {}  # host -> (its pod informer, its resourceVersion)
        self._pod_states_from = 0  # the revision from which the pods' states are all kept
        self._claims_open: dict[int, CallRecord] = {}  # position in the log -> call
        self._claim_answered: dict[str, int] = {}  # host -> the tick its last such call was answered
        self._job_pods: dict[str, dict[str, str | None]] = {}  # Job uid -> pod uid -> pod_outcome
        self._job_ended: dict[str, list[str]] = {}  # Job uid -> its pods' uids, in the order they ended
        self._after_finish: set[str] = set()  # pods of a Job created once it had finished
        self._leading: dict[str, Any] = {}  # host id -> its process object while it leads
        self._lease_touches: dict[str, list[int]] = {}  # Lease name -> ticks someone else wrote it lately
        self._lease_reads: dict[tuple[str, str], list[int]] = {}  # (host, Lease name) -> ticks it read it lately
        self._scheduler: Any = cluster.world.nodes.get(cluster.scheduler_id)  # its process, to tell a restart
        self._scheduler_unsure_at = -10**9  # its last restart, or write of unknown outcome
        self.found: tuple[Invariant, str] | None = None

    # ----- what the harness tells ------------------------------------------------------------

    def fault(self, what: str) -> None:
        """Something happened that excuses the rollout bounds for the rest of the run."""
        if self.healthy:
            self.faults.append(what)
        self.healthy = False

    # ----- every tick --------------------------------------------------------------------------

    def after_tick(self) -> tuple[Invariant, str] | None:
        """The first violation found since the last call (None: all held)."""
        if self.found is None:
            self._read_changes()
        if self.found is None:
            self._read_calls()
        self._judge_leaders()
        self._note_pod_caches()
        self._note_scheduler_restart()
        return self.found

    def _flag(self, invariant: Invariant, problems: list[str]) -> None:
        if problems and self.found is None:
            self.found = (invariant, problems[0])

    # ----- store changes -----------------------------------------------------------------------

    def _read_changes(self) -> None:
        changes = self.cluster.observer.changes
        while self._changes_read < len(changes) and self.found is None:
            change = changes[self._changes_read]
            self._changes_read += 1
            self._revision = change.revision
            self._apply(change.resource, change.key, change.object, change.previous)

    def _apply(self, storage: str, key: str, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        short = key.split(f"/registry/{storage}/", 1)[-1]
        by_key = self.view.setdefault(storage, {})
        if previous is not None:
            self.by_uid.pop(meta(previous).get("uid"), None)
        if obj is None:
            by_key.pop(short, None)
            if previous is not None:
                self.gone[(storage, short)] = previous
        else:
            by_key[short] = obj
            self.by_uid[meta(obj).get("uid")] = obj
        if obj is not None and previous is None:
            self._created_at[meta(obj).get("uid")] = self.cluster.world.now
        if storage == "pods" and obj is not None and previous is None:
            self._born[meta(obj).get("uid")] = self._changes_read
        if storage == "replicasets":
            if obj is not None and previous is None:
                self._replica_set_created(obj)
            self._replica_set_changed(obj, previous)
            self._replicas_changed(obj, previous)
        if storage == "minions" and obj is not None and _no_execute(obj) - _no_execute(previous or {}):
            # the taint's evictions are a disruption the rollout did not choose, as a node outage is
            self.fault(f"node {short} tainted {', '.join(sorted(_no_execute(obj)))}:NoExecute")
        if storage == "namespaces" and obj is None and previous is not None:
            self._flag(NO_LEAK, namespace_left_problems(short, self._everything()))
        self._judge_deletion_finalizers(storage, short, obj, previous)
        if storage == "deployments" and obj is not None:
            template = template_key((obj.get("spec") or {}).get("template"))
            templates = self._unpaused.setdefault(meta(obj).get("uid"), set())  # an entry even while paused
            if not (obj.get("spec") or {}).get("paused"):
                templates.add(template)
            self._deployment_changed(short, obj, previous, template)
        elif storage == "pods":
            self._remember_pod(obj, previous)
            self._job_pod_changed(obj, previous)
            if obj is not None and is_ready(obj):
                self._ever_ready.add(meta(obj).get("uid"))
            self._pod_changed(obj, previous)
            self._judge_bind(obj, previous)
        elif storage == "endpoints" and obj is not None:
            service = self.view.get("services", {}).get(short)
            self._flag(ENDPOINTS_READY, endpoints_ready_problems(short, obj, service, self._ever_ready))

    def _replica_set_changed(self, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        now, uid = self.cluster.world.now, meta(obj if obj is not None else previous).get("uid")
        if obj is not None and previous is not None and spec_replicas(obj) < spec_replicas(previous):
            self._scaled_down[uid] = self._changes_read
            self._scaled_down_overcount[uid] = self._others_overcount(obj)
            self._scaled_down_at[uid] = now
        over = overcounted(obj, self._lowest_since_observed(uid, obj)) if obj is not None else 0
        before, until = self._overcounts.get(uid, (0, now))
        if over:
            ongoing = until is None or now - until <= STALE_STATUS_TICKS
            self._overcounts[uid] = (max(over, before) if ongoing else over, None)
        elif until is None:
            self._overcounts[uid] = (before, now)

    def _replica_set_created(self, replica_set: dict[str, Any]) -> None:
        """A ReplicaSet created under a Deployment seen: for a template it had unpaused."""
        ref = next((r for r in meta(replica_set).get("ownerReferences") or () if r.get("controller")), {})
        if ref.get("kind") != "Deployment" or ref.get("uid") not in self._unpaused:
            return
        self._flag(PAUSED_NO_ROLLOUT, paused_rollout_problems(f"{meta(replica_set).get('namespace')}/{ref.get('name')}",
                                                              replica_set, self._unpaused[ref["uid"]]))

    def _lowest_since_observed(self, uid: str, replica_set: dict[str, Any]) -> int | None:
        """The lowest spec.replicas the store held for ``replica_set`` from the generation its
        status observed up to its current one (None if none of those was seen)."""
        specs = self._spec_by_generation.setdefault(uid, {})
        generation = int(meta(replica_set).get("generation") or 0)
        specs[generation] = spec_replicas(replica_set)
        observed = int((replica_set.get("status") or {}).get("observedGeneration") or 0)
        return min((spec for g, spec in specs.items() if observed <= g <= generation), default=None)

    def _others_overcount(self, replica_set: dict[str, Any]) -> int:
        """What the statuses of the other ReplicaSets of its owner overcount now, or did up to
        STALE_STATUS_TICKS ago (the Deployment controller may decide on those yet)."""
        owner, now, total = _owner_uid(replica_set), self.cluster.world.now, 0
        for other in self.view.get("replicasets", {}).values():
            uid = meta(other).get("uid")
            if uid == meta(replica_set).get("uid") or owner is None or _owner_uid(other) != owner:
                continue
            over, until = self._overcounts.get(uid, (0, None))
            if until is None or now - until <= STALE_STATUS_TICKS:
                total += over
        return total

    def _judge_deletion_finalizers(self, storage: str, key: str, obj: dict[str, Any] | None,
                                   previous: dict[str, Any] | None) -> None:
        """An owner leaves foreground deletion only once nothing blocks it, and orphan deletion
        only once it has released its dependents. Both are judged on the objects there when it
        entered (one a controller creates later, from a cache that missed the deletion, the
        collector's own graph may miss too, in kube as here); orphan deletion on those that named
        it then (a controller's adoption, sent after a live read of the owner showed it not
        deleting, may land after the deletion and after the collector listed the dependents:
        kube's RecheckDeletionTimestamp narrows that race and does not close it), less those
        created in the GRAPH_LAG_TICKS before: the graph, fed by the collector's informers of each
        resource, may not hold them yet when the owner's deletion reaches it (kube's may not either)."""
        for finalizer, waits, judge, other_policies in (
                (FOREGROUND, self._waits_for, foreground_problems, ("Background", "Orphan")),
                (ORPHAN, self._orphaning, orphan_problems, ("Background", "Foreground"))):
            if _entered(finalizer, obj, previous):
                seen_by, uid = self.cluster.world.now - GRAPH_LAG_TICKS, meta(obj).get("uid")
                waits[uid] = {meta(o).get("uid") for o in self._everything()
                              if self._created_at.get(meta(o).get("uid"), 0) <= seen_by
                              and (finalizer != ORPHAN or names_owner(o, uid))}
            if _left(finalizer, obj, previous) and not self._deleted_again(storage, key, other_policies):
                waited = waits.pop(meta(previous).get("uid"), set())
                self._flag(GC_LIVE_OWNER, judge(f"{previous.get('kind', storage)} {key}", previous,
                                                [self.by_uid[uid] for uid in sorted(waited) if uid in self.by_uid]))

    def _deleted_again(self, storage: str, key: str, policies: tuple[str, ...]) -> bool:
        """Someone deleted the object again with another propagation policy: that swaps its
        deletion finalizer at once (kube's deletionFinalizersForGarbageCollection), the garbage
        collector's promise with it."""
        for call in self.cluster.api_log.calls:
            if call.request.method != "DELETE" or call.response is None or call.response.code >= 300:
                continue
            try:
                info = request_info(call.request)
            except ApiError:
                continue
            named = f"{info.namespace}/{info.name}" if info.namespace else info.name
            if info.resource is None or info.resource.storage_resource != storage or named != key:
                continue
            if (call.request.query_value("propagationPolicy") or _body_field(call, "propagationPolicy")) in policies:
                return True
        return False

    def _everything(self) -> list[dict[str, Any]]:
        return [obj for storage in sorted(self.view) for obj in self.view[storage].values()]

    def _deployment_changed(self, key: str, deployment: dict[str, Any], previous: dict[str, Any] | None,
                            template: str) -> None:
        replicas, uid = (deployment.get("spec") or {}).get("replicas", 1), meta(deployment).get("uid")
        if self._template_at.get(uid, ("", 0))[0] != template:
            self._template_at[uid] = (template, self.cluster.world.now)
        if previous is not None and self._scaled.get(uid, (replicas, 0))[0] != replicas:
            self._scaled[uid] = (replicas, self.cluster.world.now)
        else:
            self._scaled.setdefault(uid, (replicas, -SCALE_SETTLE_TICKS))  # created: not a scale
        if previous is None or previous.get("status") == deployment.get("status") or self._going(deployment):
            return
        self._flag(STATUS_OBSERVED, status_problems(key, deployment, self.view.get("replicasets", {}).values()))

    def _going(self, obj: dict[str, Any]) -> bool:
        """Being deleted, or in a namespace being deleted: its content goes in any order."""
        namespace = self.view.get("namespaces", {}).get(meta(obj).get("namespace") or "")
        return bool(meta(obj).get("deletionTimestamp")) or bool(namespace and meta(namespace).get("deletionTimestamp"))

    def _deployment_of(self, pod: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        replica_set = self.by_uid.get(_owner_uid(pod) or "")
        deployment = self.by_uid.get(_owner_uid(replica_set) or "") if replica_set is not None else None
        if deployment is None or (deployment.get("kind") not in (None, "Deployment")) or self._going(deployment):
            return None
        strategy = ((deployment.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate" or (deployment.get("spec") or {}).get("paused"):
            return None
        return f"{meta(deployment).get('namespace')}/{meta(deployment).get('name')}", deployment

    def _pod_changed(self, pod: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        if pod is not None and previous is None:
            self._pod_created(pod)  # Recreate's order holds whatever fails: an old pod left is waited for
        if not self.healthy:
            return
        found = self._deployment_of(pod if pod is not None else previous)
        if found is None:
            return
        key, deployment = found
        if self.cluster.world.now - self._scaled.get(meta(deployment).get("uid"), (0, 0))[1] < SCALE_SETTLE_TICKS:
            return
        replica_sets = self.view.get("replicasets", {}).values()
        pods = pods_of_deployment(deployment, replica_sets, self.view.get("pods", {}).values())
        self._flag(ROLLOUT_SURGE, surge_problems(key, deployment, pods, replica_sets, self._predate_scale_down(pods),
                                                 self._stale_excess.get(meta(deployment).get("uid"), 0)))
        min_ready, now = int((deployment.get("spec") or {}).get("minReadySeconds") or 0), self.cluster.world.now
        was_available = previous is not None and is_available(previous, min_ready, now)
        deleted = pod is None or bool(meta(pod).get("deletionTimestamp"))
        if was_available and deleted and not self._unavailable_when_scaled_down(previous, min_ready):
            available = len([p for p in pods if is_available(p, min_ready, now)])
            overcount = self._scaled_down_overcount.get(_owner_uid(previous) or "", 0) + \
                ready_not_available(previous, pods, min_ready, now)
            self._flag(ROLLOUT_AVAILABLE, unavailable_problems(key, deployment, available,
                                                               [meta(previous).get("name", "")], overcount))

    def _unavailable_when_scaled_down(self, pod: dict[str, Any], min_ready: int) -> bool:
        """Whether ``pod`` was not yet available when its ReplicaSet was last scaled down. kube's
        cleanupUnhealthyReplicas scales an old ReplicaSet down by its replicas less its status'
        available ones, even below the floor (unhealthy replicas would block the rollout), and
        the ReplicaSet controller then deletes the pod Ready for the shortest time: that
        scale-down took nothing available. Carried out late (a delete the webhook refused,
        retried after the pod's minReadySeconds ran out: controllers seed 2 at 11bfd89), it
        deletes a pod that has become available since, as kube's would."""
        at = self._scaled_down_at.get(_owner_uid(pod) or "")
        return at is not None and not is_available(pod, min_ready, at)

    def _judge_bind(self, pod: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        """CTRL-NODE-FITS, on a pod the scheduler has just bound (one created bound is the user's)."""
        node_name = (pod or {}).get("spec", {}).get("nodeName")
        if not node_name or previous is None or (previous.get("spec") or {}).get("nodeName"):
            return
        node = self.view.get("minions", {}).get(node_name)
        if node is None or self.cluster.world.now - self._scheduler_unsure_at <= self.cluster.request_timeout_ticks:
            return
        self._flag(NODE_FITS, overcommit_problems(node_name, node, self.view.get("pods", {}).values()))

    def _note_scheduler_restart(self) -> None:
        process = self.cluster.world.nodes.get(self.cluster.scheduler_id)
        if process is not self._scheduler:
            self._scheduler, self._scheduler_unsure_at = process, self.cluster.world.now

    def _pod_created(self, pod: dict[str, Any]) -> None:
        """A Recreate Deployment starts a new ReplicaSet's pods only once the old ones are gone."""
        replica_set = self.by_uid.get(_owner_uid(pod) or "")
        deployment = self.by_uid.get(_owner_uid(replica_set) or "") if replica_set is not None else None
        if deployment is None or deployment.get("kind") not in (None, "Deployment") or self._going(deployment):
            return
        if ((deployment.get("spec") or {}).get("strategy") or {}).get("type") != "Recreate":
            return
        pods = pods_of_deployment(deployment, self.view.get("replicasets", {}).values(),
                                  self.view.get("pods", {}).values())
        key = f"{meta(deployment).get('namespace')}/{meta(deployment).get('name')}"
        replica_sets = [rs for rs in self.view.get("replicasets", {}).values()
                        if _owner_uid(rs) == meta(deployment).get("uid")]
        changed = self._template_at.get(meta(deployment).get("uid"), ("", 0))[1]
        raised_late = {meta(rs).get("uid") for rs in replica_sets if self._raised_at.get(meta(rs).get("uid"), -1) >= changed
                       or meta(rs).get("uid") in self._raised_stale}
        self._flag(ROLLOUT_SURGE, recreate_problems(key, pod, pods, raised_late))

    def _replicas_changed(self, obj: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        """A ReplicaSet's spec.replicas (0 for none) changed: a scale-up (or a creation) may exceed
        replicas + maxSurge by what a view up to STALE_STATUS_TICKS old (the Deployment controller's
        cache, behind its own last writes) explains; a scale-down only lowers that."""
        rs = obj if obj is not None else previous
        owner, uid, now = _owner_uid(rs), meta(rs).get("uid"), self.cluster.world.now
        before = spec_replicas(previous) if previous is not None else 0
        after = spec_replicas(obj) if obj is not None else 0
        if owner is None or before == after:
            return
        recent = [c for c in self._spec_changes.get(owner, []) if now - c[0] <= STALE_STATUS_TICKS]
        deployment = self.by_uid.get(owner)
        if deployment is not None:
            replica_sets = list(self.view.get("replicasets", {}).values())
            if after > before:
                self._stale_excess[owner] = stale_view_excess(deployment, replica_sets, uid,
                                                              [(changed, b, a) for _, changed, b, a in recent])
            else:
                self._stale_excess[owner] = max(0, min(self._stale_excess.get(owner, 0),
                                                       spec_excess(deployment, replica_sets)))
        self._spec_changes[owner] = [*recent, (now, uid, before, after)]
        if after > before:
            self._raised_at[uid] = now
            stale = deployment is not None and template_key((rs.get("spec") or {}).get("template")) != \
                template_key((deployment.get("spec") or {}).get("template"))
            (self._raised_stale.add if stale else self._raised_stale.discard)(uid)

    def _job_pod_changed(self, pod: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        job = _job_uid(pod if pod is not None else previous)
        uid = meta(pod if pod is not None else previous).get("uid")
        if job is not None and previous is None and job_finished(self.by_uid.get(job) or {}):
            # Made by a Job controller whose cache had not yet seen the Job finish: kube's too
            # leaves it uncounted (a finished Job's pods lose their finalizer as orphans do).
            self._after_finish.add(uid)
        if job is not None and uid not in self._after_finish:
            outcomes = self._job_pods.setdefault(job, {})
            before, outcomes[uid] = outcomes.get(uid), pod_outcome(pod, outcomes.get(uid))
            if before is None and outcomes[uid] is not None:
                self._job_ended.setdefault(job, []).append(uid)

    def job_count_problems(self, jobs: dict[str, dict[str, Any]]) -> list[str]:
        """CTRL-JOB-COUNTED, for the Jobs in the store at the fixpoint."""
        problems = []
        for key, job in sorted(jobs.items()):
            outcomes = self._job_pods.get(meta(job).get("uid"), {})
            ended = [outcomes[uid] for uid in self._job_ended.get(meta(job).get("uid"), ())]
            problems += job_count_problems(key, job, outcomes.values()) + job_backoff_problems(key, job, ended)
        return problems

    def _remember_pod(self, pod: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        self._pod_states.setdefault(meta(pod if pod is not None else previous).get("uid"), []).append(
            (self._revision, pod))

    def _states_between(self, uid: str, low: int, high: int) -> list[dict[str, Any] | None]:
        """A pod's states at the revisions ``low`` to ``high``: the one it had at ``low`` (None if
        it did not exist then) and every later one up to ``high``."""
        states = self._pod_states.get(uid, [])
        before = [state for revision, state in states if revision <= low]
        return [before[-1] if before else None, *(state for revision, state in states if low < revision <= high)]

    def _pod_cache(self, host_id: str) -> tuple[Any, int] | None:
        """The informer a host's controllers read pods from, and its resourceVersion (None: none
        that has listed)."""
        host = self.cluster.world.nodes[host_id]
        informer = (getattr(host, "informers", None) or {}).get("pods")
        if informer is None or not informer.has_synced:
            return None
        return informer, int(informer.resource_version)

    def _note_pod_caches(self) -> None:
        """Each controller host's pod cache at the end of this tick; the pods' states the oldest
        of them no longer needs are dropped."""
        kubelets = set(self.cluster.kubelet_ids)
        self._pod_caches = {host_id: cache for host_id in self.cluster.host_ids if host_id not in kubelets
                            for cache in [self._pod_cache(host_id)] if cache is not None}
        oldest = min((revision for _, revision in self._pod_caches.values()), default=0)
        if oldest <= self._pod_states_from:
            return  # every state kept is still newer than some cache, or was already needed
        self._pod_states_from = oldest
        for uid in list(self._pod_states):  # the order drops nothing differently
            states = self._pod_states[uid]
            while len(states) > 1 and states[1][0] <= oldest:
                states.pop(0)
            if len(states) == 1 and states[0][1] is None and states[0][0] <= oldest:
                del self._pod_states[uid]

    def _predate_scale_down(self, pods: list[dict[str, Any]]) -> set[str]:
        """The UIDs of ``pods`` that appeared before their ReplicaSet was last scaled down."""
        older = set()
        for pod in pods:
            scaled_down = self._scaled_down.get(_owner_uid(pod) or "")
            if scaled_down is not None and self._born.get(meta(pod).get("uid"), -1) < scaled_down:
                older.add(meta(pod).get("uid"))
        return older

    # ----- requests ----------------------------------------------------------------------------

    def _read_calls(self) -> None:
        calls = self.cluster.api_log.calls
        # A kubelet's writes (pod status, its node) create nothing a rollout counts: their unknown
        # outcomes excuse nothing, and its client gives up sooner than the controllers'.
        hosts, kubelets = set(self.cluster.host_ids), set(self.cluster.kubelet_ids)
        deletes = []
        electors = set(self.cluster.manager_ids + (self.cluster.scheduler_id,) + self.cluster.operator_ids)
        for position in range(self._calls_read, len(calls)):
            call = calls[position]
            if "/leases/" in call.request.path:
                self._note_lease_call(call, electors)
            if call.client in hosts and call.request.method in WRITE_METHODS and call.client not in kubelets:
                host = self.cluster.world.nodes[call.client]
                self._pending[position] = (call, host.connection if host is not None else None)
            if call.client in hosts and _user_agent(call) == REPLICASET_USER_AGENT:
                if call.request.method == "DELETE":
                    deletes.append(call)
                elif call.request.method == "PATCH":  # a claim's adoption or release of a pod
                    self._claims_open[position] = call
        self._calls_read = len(calls)
        now = self.cluster.world.now
        for position in sorted(self._claims_open):
            call = self._claims_open[position]
            if call.finished is not None or now - call.started > self.cluster.request_timeout_ticks:
                del self._claims_open[position]
                self._claim_answered[call.client] = max(self._claim_answered.get(call.client, 0),
                                                        call.finished if call.finished is not None else now)
        for call in deletes:
            view = self._view_of(call)  # sent this tick: the log is read every tick
            if self.found is None and view is not None:
                batch = [c for c in deletes if (c.client, c.started) == (call.client, call.started)]
                self._replica_set_deleted(call, batch, view)
        for position in sorted(self._pending):
            call, connection = self._pending[position]
            if call.response is None:
                if now - call.started > self.cluster.request_timeout_ticks:
                    del self._pending[position]
                    if self._caller_waits(call, connection):
                        self.fault(f"a write of {call.client} was never answered")
                        self._note_unknown_outcome(call)
                continue
            del self._pending[position]
            if call.response.code >= 500 and not _refused_by_webhook(call):
                self.fault(f"a write of {call.client} was answered {call.response.code}")
                self._note_unknown_outcome(call)
            if _user_agent(call) == GC_USER_AGENT and call.request.method == "DELETE" and call.response.code < 300:
                self._gc_deleted(call)

    def _note_lease_call(self, call: CallRecord, electors: set[str]) -> None:
        """Someone else's write to a Lease, or an elector's read of one, kept for LEASE_TOUCH_TICKS
        (CTRL-LEADER-KEEPS-LEASE's excuse looks no further back)."""
        lease = call.request.path.rsplit("/", 1)[-1]
        if call.request.method in WRITE_METHODS and call.client not in electors:
            ticks = self._lease_touches.setdefault(lease, [])
        elif call.request.method == "GET" and call.client in electors:
            ticks = self._lease_reads.setdefault((call.client, lease), [])
        else:
            return
        ticks[:] = [tick for tick in ticks if call.started - tick <= LEASE_TOUCH_TICKS] + [call.started]

    def _note_unknown_outcome(self, call: CallRecord) -> None:
        if call.client == self.cluster.scheduler_id:
            self._scheduler_unsure_at = self.cluster.world.now

    def _view_of(self, call: CallRecord) -> tuple[int, int] | None:
        """The revisions the pod cache of the reconcile that sent ``call`` (this tick) may have
        been at: its host's pod informer's resourceVersion at the end of the last tick and now,
        the same informer, not moved back (a watch stream numbers its events: one lost, repeated or
        out of order ends it, and the informer watches again from its resourceVersion, so its cache
        is the store's pods at that revision). None when that cannot be told: the reconcile may have
        begun earlier (an adoption or release of a pod by a claim, which
        comes before its deletes, was in flight or answered in the last STALE_STATUS_TICKS ticks:
        a claim's last such request is answered just before its deletes go, and its recheck of the
        owner, a GET, is always followed by one)."""
        before, now = self._pod_caches.get(call.client), self._pod_cache(call.client)
        if before is None or now is None or before[0] is not now[0] or before[1] > now[1] \
                or before[1] < self._pod_states_from:
            return None
        if self._claim_answered.get(call.client, -STALE_STATUS_TICKS - 1) >= call.started - STALE_STATUS_TICKS:
            return None
        if any(c.client == call.client and c.started <= call.started for c in self._claims_open.values()):
            return None
        return before[1], now[1]

    def _replica_set_deleted(self, call: CallRecord, batch: list[CallRecord], view: tuple[int, int]) -> None:
        """The ReplicaSet controller deleted a pod: no pod of its ReplicaSet it kept (not in the
        same batch of deletes) ranked before it at every revision its cache may have been at."""
        names = []
        for sent in batch:
            try:
                info = request_info(sent.request)
            except ApiError:
                return
            names.append(f"{info.namespace}/{info.name}")
        key = names[batch.index(call)]
        pod = self.view.get("pods", {}).get(key) or self.gone.get(("pods", key))
        replica_set = self.by_uid.get(_owner_uid(pod) or "") if pod is not None else None
        if replica_set is None or replica_set.get("kind") not in (None, "ReplicaSet"):
            return
        deleted = [state for state in self._states_between(meta(pod).get("uid"), *view) if state is not None]
        kept = {meta(other).get("name"): self._states_between(meta(other).get("uid"), *view)
                for other_key, other in sorted(self.view.get("pods", {}).items())
                if other_key not in names and _owner_uid(other) == meta(replica_set).get("uid")}
        self._flag(SCALE_DOWN_ORDER, scale_down_order_problems(replica_set, deleted, kept))

    def _caller_waits(self, call: CallRecord, connection: Any) -> bool:
        """The process that sent ``call`` still waited for its answer when it gave up on it: it
        had not crashed or started over (then nobody acts on the outcome, whatever it was)."""
        host = self.cluster.world.nodes[call.client]
        return host is not None and host.connection is connection

    def _gc_deleted(self, call: CallRecord) -> None:
        """What the garbage collector deleted: the answer's object (marked for deletion), or, when
        it went at once and the answer is a Status, the object as the store last held it."""
        try:
            info = request_info(call.request)
        except ApiError:
            return
        if info.resource is None or not info.name:
            return
        key = f"{info.namespace}/{info.name}" if info.namespace else info.name
        storage = info.resource.storage_resource
        body = decoded(call.response.body)
        deleted = body if isinstance(body, dict) and "metadata" in body and body.get("kind") != "Status" else \
            self.gone.get((storage, key)) or self.view.get(storage, {}).get(key)
        if deleted is None:
            return
        what = f"{info.resource.kind} {key} (#{call.request.request_id})"
        self._flag(GC_LIVE_OWNER, gc_delete_problems(what, deleted, self.by_uid))

    # ----- leaders -----------------------------------------------------------------------------

    def _step_down_excused(self, host_id: str, lease: str, now: int) -> bool:
        """A fault in the last LEASE_FAULT_TICKS; or someone else's write to the Lease in the last
        LEASE_TOUCH_TICKS, after which and before its step-down the leader read the Lease again
        (a leader that gives up reads it only once it has, as a candidate): a conflict costs three
        lease requests (the failed update, a get, the update), 14 of the 20 ticks of a renew round
        with one-tick hops and an idle API server, and more than the round with slower hops, a
        replicated store, a busy server or a second conflict (in kube too, had its renew deadline
        been a few round trips long). A leader that never reads the Lease again after a conflict
        has no such excuse."""
        if now - self.cluster.link_faulted_at <= LEASE_FAULT_TICKS:
            return True
        reads = self._lease_reads.get((host_id, lease), ())
        return any(now - touch <= LEASE_TOUCH_TICKS and any(touch <= read < now for read in reads)
                   for touch in self._lease_touches.get(lease, ()))

    def _judge_leaders(self) -> None:
        """One pass over the hosts: CTRL-SINGLE-LEADER over those acting as leaders now, and
        CTRL-LEADER-KEEPS-LEASE over those that led at the last tick: a process that led and
        leads no more (not crashed: the same process) gave up its Lease, which only a fault
        excuses."""
        now, acting = self.cluster.world.now, {}
        for host_id in self.cluster.host_ids:
            host = self.cluster.world.nodes[host_id]
            leads = host is not None and getattr(host, "acting_leader", lambda: False)()
            if leads:
                acting.setdefault(host.config.lease_name, []).append(host_id)
            elif host is not None and self._leading.get(host_id) is host \
                    and not self._step_down_excused(host_id, host.config.lease_name, now):
                self._flag(LEADER_KEEPS_LEASE, [f"{host_id} gave up the Lease kube-system/{host.config.lease_name} "
                                                f"at tick {now}, with no fault between it and the API servers "
                                                f"since tick {self.cluster.link_faulted_at}, and without reading "
                                                f"the Lease again since someone else last wrote it"])
            self._leading[host_id] = host if leads else None
        for lease in sorted(acting):
            self._flag(SINGLE_LEADER, leader_problems(f"kube-system/{lease}", acting[lease]))
