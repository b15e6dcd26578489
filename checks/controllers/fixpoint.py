"""``converge``: the fault-free phase that ends every controllers run, and its judgement.

Every fault ends (``heal_everything``), then the world ticks, at most ``CONVERGE_TICKS_MAX``
ticks, until it has settled: the desired state is reached (spec/controllers/desired.py), nothing
leaked, for ``QUIET_TICKS`` no host has made a write other than a heartbeat, and every Lease has a
leader that has listed everything and has nothing queued (so has the user's controller). What is left at
the bound names the invariant: CTRL-CONVERGES (the desired state is not reached), CTRL-NO-LEAK
(reached, but something outlived its owner), CTRL-FIXPOINT-QUIET (reached, but a controller keeps
writing). A run that settled has each Job's count judged against what became of its pods
(CTRL-JOB-COUNTED: the safety observer followed them).

The verdict comes before the bound when waiting longer cannot change it, because a failing run
(and each replay of the shrinker) would otherwise tick the whole bound: a run that is not
converged, with no write for ``STUCK_QUIET_TICKS``, every controller idle and no delayed work
scheduled beyond the periodic polls (nothing that could still act: there is no resync, and the
fault-free phase has no user), is stuck; a run whose desired state has held for ``FIGHT_TICKS``
while a controller keeps writing is fighting. Both windows are several times the longest the
reference was measured to take (a 31-tick quiet spell before its next write, writes 22 ticks into
a matched state; 56 converge phases of seeds 11-14).

Then, when the run had perturbations of the controllers (crashes and restarts of a controller
host, ``crash-between-writes``, ``hide-events``, ``lag``, ``webhook-outage``) and no request whose effect depends on
timing (``pause``, ``rollout-undo``, an orphaning delete, a claim's delete), CTRL-LEVEL-TRIGGERED: the same run
without them (a *twin*: the same scenario lines less those) must reach the same state. The two
are compared only when kubectl's requests were answered alike in both (otherwise the user asked
different things of them, e.g. a create that found its namespace still terminating in one), on
``snapshot``: every object whose name was not generated, by spec, data, labels and annotations
(UIDs masked; of a claim, whether bound, not to which volume: ``BOUND_BY_CONTROLLER``), the
number of volumes bound, and the number of active pods under each owner (a Deployment's, not its
ReplicaSet's: a hash collision, which depends on timing, renames the ReplicaSet).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.client import CallRecord
from spec.controllers.desired import desired_left, is_active, leaks, meta
from spec.controllers.invariants import (
    CONVERGE_TICKS_MAX, CONVERGES, FIXPOINT_QUIET, JOB_COUNTED, LEVEL_TRIGGERED, NO_LEAK, QUIET_TICKS,
)

__all__ = ["converge", "snapshot", "is_perturbation", "twin_lines", "is_heartbeat", "writes_since", "DIFFERENCES_SHOWN"]

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Not compared by the twin: volatile by nature (heartbeats, events, node status), or named and
# numbered by timing (which intermediate templates got a ReplicaSet and a revision).
NOT_COMPARED = ("leases", "events", "minions", "replicasets", "pods", "controllerrevisions")
VOLATILE_ANNOTATIONS = re.compile(r"^deployment\.kubernetes\.io/")
DIFFERENCES_SHOWN = 3
# Which volume a claim is bound to: the binder takes the smallest volume that fits among those its
# cache holds when it syncs the claim, and a binding is final, so a volume created just before the
# claim and not yet seen (a hidden event, a lagging cache) leaves the claim on a bigger one (kube's
# PV controller does the same: findBestMatchForClaim over its volume cache). So the twin compares
# whether each claim is bound and how many volumes are, not which.
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
STUCK_QUIET_TICKS = 150
FIGHT_TICKS = 150
FIGHT_CHECK_TICKS = 10  # how often a run that is still writing is looked at (the look costs a scan of the store)
POLL_TICKS_MAX = 10  # the longest periodic poll: kubelet status and lease renewal, the scheduler's retry
# Controllers whose only delayed work is a deadline check that writes a condition and nothing else:
# the Deployment controller's progressDeadlineSeconds (requeueStuckDeployment), which a stuck
# rollout reschedules for ever; the sync it runs sees the same store as the last one did.
DEADLINE_ONLY = ("deployment",)
# User requests whose effect depends on how far the controllers got when they came: a pause
# freezes whatever rollout was under way, an undo goes back to whichever revision had a
# ReplicaSet, an orphaning delete leaves whatever dependents existed, and a claim deleted leaves
# its volume Released (bound-by-controller, its claimRef kept) if the binder had bound it, and
# Available if not. A run with them has no timing-free fixpoint to compare.
_TIMING_DEPENDENT = re.compile(r"^(pause|rollout-undo) |^delete .* propagation=Orphan\b|^delete persistentvolumeclaims ")
_PERTURBATION = re.compile(r"^(crash-between-writes|hide-events|lag|webhook-outage) |^(crash|restart) (cm\d+|sched|op\d+)\b|"
                           r"^restart \S+ via ")


def is_heartbeat(call: CallRecord) -> bool:
    """A Lease renewal, or a kubelet's node status report: writes a fixpoint keeps making."""
    path = call.request.path
    return "/leases/" in path or "/leases" == path[-7:] or ("/nodes/" in path and path.endswith("/status"))


def writes_since(cluster: Any, first: int) -> list[CallRecord]:
    """The writes of the cluster's hosts from call ``first`` on, heartbeats left out."""
    hosts = set(cluster.host_ids)
    return [c for c in cluster.api_log.calls[first:]
            if c.client in hosts and c.request.method in WRITE_METHODS and not is_heartbeat(c)]


def _describe(call: CallRecord) -> str:
    agent = next((value for key, value in call.request.headers if key == "User-Agent"), call.client)
    return f"{call.client} {agent.removeprefix('kinv/')} {call.request.method} {call.request.path} at tick {call.started}"


def converge(cluster: Any, twin: Callable[[list[str]], Any] | None) -> None:
    """The fault-free phase and its judgement (raises the violation, as ``cluster.fail`` does)."""
    cluster.heal_everything()
    progress = _Progress(started=cluster.world.now, last_write=cluster.world.now)
    first_call = len(cluster.api_log.calls)
    for _ in range(CONVERGE_TICKS_MAX):
        cluster.world.tick()
        now = cluster.world.now
        if writes_since(cluster, first_call):
            progress.last_write = now
        first_call = len(cluster.api_log.calls)
        if now - progress.last_write >= QUIET_TICKS:  # work due sooner fires within the stuck window
            progress.scheduled = max(progress.scheduled, _scheduled_until(cluster))
        quiet = now - progress.last_write >= QUIET_TICKS and _controllers_idle(cluster)
        if not quiet and (now - progress.started) % FIGHT_CHECK_TICKS:
            continue
        left = cluster.converged()
        if quiet and not left:
            break
        progress.looked(now, matched=not left)
        hopeless = progress.hopeless(now, bool(left), quiet)
        if hopeless:
            _not_settled(cluster, progress.started, hopeless)
    else:
        _not_settled(cluster, progress.started)
    miscounted = cluster.safety.job_count_problems(cluster.by_resource().get("jobs", {}))
    if miscounted:
        cluster.fail(JOB_COUNTED, "; ".join(miscounted[:2]))
    cluster.judging_api = True
    cluster.check()
    lines = [line.removeprefix("maybe ") for line in cluster.lines[1:]]
    if twin is not None and any(map(is_perturbation, lines)) and not any(map(_TIMING_DEPENDENT.match, lines)):
        _compare_with_twin(cluster, twin)


@attrs.define
class _Progress:
    """What the fault-free phase has seen: its start, its last write, since when the desired state
    has held (at the ticks it was looked at), the last tick delayed work was due."""

    started: int
    last_write: int
    matched_since: int | None = None
    scheduled: int = 0

    def looked(self, now: int, matched: bool) -> None:
        """The desired state was looked at: it holds (``matched``) or not."""
        self.matched_since = (now if self.matched_since is None else self.matched_since) if matched else None

    def hopeless(self, now: int, left: bool, quiet: bool) -> str:
        """Why waiting until the bound cannot change the verdict (the early verdicts of the module
        docstring), or "" if it might."""
        if left and quiet and now - self.last_write >= STUCK_QUIET_TICKS and now > self.scheduled:
            return f" (stuck: no write for {now - self.last_write} ticks, every controller idle, no work scheduled)"
        writing = now - self.last_write < QUIET_TICKS
        if self.matched_since is not None and writing and now - self.matched_since >= FIGHT_TICKS:
            return f" ({now - self.matched_since} ticks since it was reached)"
        return ""


def _controllers_idle(cluster: Any) -> bool:
    """Each Lease has a leader that has listed everything and has nothing left to do, and so has
    the user's controller: a quiet spell while a new leader is still being elected is no fixpoint."""
    leaders: dict[str, list[Any]] = {}
    for host_id in cluster.manager_ids + (cluster.scheduler_id,) + cluster.operator_ids:
        host = cluster.world.nodes[host_id]
        if host is not None and (host.acting_leader() or host.elector is None):
            leaders.setdefault(host.config.lease_name if host.elector else host_id, []).append(host)
    wanted = 2 + len(cluster.operator_ids)  # the controller manager's Lease, the scheduler's, the user's
    return len(leaders) == wanted and all(host.idle() for hosts in leaders.values() for host in hosts)


def _scheduled_until(cluster: Any) -> int:
    """The last tick a running host's delayed work is due (an eviction after tolerationSeconds, a
    Job's back-off, a crash-looping container's restart), leaving out the periodic polls: a key
    due within ``POLL_TICKS_MAX`` ticks is one (a node monitor, a kubelet's status report, the
    scheduler's retry), and one-off work that short comes and goes within the quiet window."""
    now = cluster.world.now
    due = [ready for host_id in cluster.host_ids if (host := cluster.world.nodes[host_id]) is not None
           and host.running for controller in host.controllers if controller.reconciler.name not in DEADLINE_ONLY
           for ready in controller.queue.waiting().values() if ready > now + POLL_TICKS_MAX]
    return max(due, default=0)


def _not_settled(cluster: Any, started: int, why: str = "") -> None:
    """Fail with what is left (``why``: the early verdict's reason, after the first clause)."""
    objects = cluster.by_resource()
    ticks = cluster.world.now - started
    left = desired_left(objects) + cluster.lost_left(objects)
    if left:
        cluster.fail(CONVERGES, f"not converged {ticks} ticks after the last fault and request{why}: " + "; ".join(left[:4]))
    leaked = leaks(objects)
    if leaked:
        cluster.fail(NO_LEAK, f"{ticks} ticks after the last fault and request{why}: " + "; ".join(leaked[:4]))
    recent = writes_since(cluster, 0)[-DIFFERENCES_SHOWN:]
    cluster.fail(FIXPOINT_QUIET, f"the desired state holds but the controllers keep writing {ticks} ticks after the "
                                 f"last fault and request{why}: " + "; ".join(_describe(c) for c in recent))


# ----- the twin ---------------------------------------------------------------------------------

def is_perturbation(line: str) -> bool:
    return bool(_PERTURBATION.match(line.removeprefix("maybe ")))


def twin_lines(lines: list[str]) -> list[str]:
    """The run's lines without its perturbations of the controllers (the first line is the cluster's)."""
    return [lines[0]] + [line for line in lines[1:] if not is_perturbation(line)]


def _answers(cluster: Any) -> list[int]:
    return [c.response.code if c.response is not None else 0 for c in cluster.api_log.calls if c.client == "u1"]


def _compare_with_twin(cluster: Any, twin: Callable[[list[str]], Any]) -> None:
    other = twin(twin_lines(cluster.lines))
    if other is None or other.violation is not None or _answers(other) != _answers(cluster):
        cluster.world.trace.record(cluster.world.now, "twin", None, "the run without perturbations is not comparable: "
                                   "its requests were answered differently, or it broke an invariant itself")
        return
    mine, theirs = snapshot(cluster.by_resource()), snapshot(other.by_resource())
    differences = [f"{key}: {_short(mine.get(key))} here, {_short(theirs.get(key))} without the perturbations"
                   for key in sorted(set(mine) | set(theirs)) if mine.get(key) != theirs.get(key)]
    if differences:
        cluster.fail(LEVEL_TRIGGERED, "the fixpoint depends on the events seen: " + "; ".join(
            differences[:DIFFERENCES_SHOWN]))


def _short(value: Any) -> str:
    if value is None:
        return "absent"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "..."


def snapshot(objects: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """What the twin comparison looks at (module docstring)."""
    uids = {meta(obj).get("uid") for by_key in objects.values() for obj in by_key.values()} - {None}
    found: dict[str, Any] = {}
    for resource in sorted(objects):
        if resource in NOT_COMPARED:
            continue
        for key, obj in objects[resource].items():
            if meta(obj).get("generateName"):
                continue
            found[f"{resource} {key}"] = _masked(_compared_fields(resource, obj), uids)
    if objects.get("persistentvolumes"):
        found["persistentvolumes bound"] = sum(1 for volume in objects["persistentvolumes"].values()
                                               if (volume.get("spec") or {}).get("claimRef"))
    ancestors = {meta(rs).get("uid"): _controller_ref(rs) for rs in objects.get("replicasets", {}).values()}
    for pod in objects.get("pods", {}).values():
        ref = _controller_ref(pod)
        if ref is not None and ref.get("kind") == "ReplicaSet" and ancestors.get(ref.get("uid")) is not None:
            ref = ancestors[ref.get("uid")]  # a ReplicaSet's name is the template's hash and a collision count
        if ref is not None and is_active(pod):
            owner = f"pods of {ref.get('kind')} {meta(pod).get('namespace')}/{ref.get('name')}"
            found[owner] = found.get(owner, 0) + 1
    return found


def _controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in meta(obj).get("ownerReferences") or () if r.get("controller")), None)


def _compared_fields(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    m = meta(obj)
    annotations = {k: v for k, v in (m.get("annotations") or {}).items() if not VOLATILE_ANNOTATIONS.match(k)}
    fields = {"labels": m.get("labels") or {}, "annotations": annotations, "deleting": bool(m.get("deletionTimestamp"))}
    if resource == "endpoints":
        return fields  # the addresses are the pods' (generated names, IPs)
    spec = dict(obj.get("spec") or {})
    spec.pop("clusterIP", None)
    spec.pop("clusterIPs", None)
    if resource == "persistentvolumeclaims":  # whether bound, not to which (BOUND_BY_CONTROLLER)
        spec["volumeName"] = bool(spec.get("volumeName"))
    if resource == "persistentvolumes":  # how many are bound is compared apart (``snapshot``)
        spec.pop("claimRef", None)
        fields["annotations"].pop(BOUND_BY_CONTROLLER, None)
    return fields | {"spec": spec, "data": obj.get("data") or {}}


def _masked(value: Any, uids: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, uids) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, uids) for v in value]
    if isinstance(value, str) and value in uids:
        return "<uid>"
    return value
