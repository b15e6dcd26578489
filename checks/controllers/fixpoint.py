"""``converge``: the fault-free phase that ends every controllers run, and its judgement.

Every fault ends (``heal_everything``), then the world ticks, at most ``CONVERGE_TICKS_MAX``
ticks, until it has settled: the desired state is reached (spec/controllers/desired.py), nothing
leaked, for ``QUIET_TICKS`` no host has made a write other than a heartbeat, and every Lease has a
leader that has listed everything and has nothing queued (so has the user's controller). What is left at
the bound names the invariant: CTRL-CONVERGES (the desired state is not reached), CTRL-NO-LEAK
(reached, but something outlived its owner), CTRL-FIXPOINT-QUIET (reached, but a controller keeps
writing).

Then, when the run had perturbations of the controllers (crashes and restarts of a controller
host, ``crash-between-writes``, ``hide-events``, ``lag``) and no request whose effect depends on
timing (``pause``, ``rollout-undo``, an orphaning delete, a claim's delete), CTRL-LEVEL-TRIGGERED: the same run
without them (a *twin*: the same scenario lines less those) must reach the same state. The two
are compared only when kubectl's requests were answered alike in both (otherwise the user asked
different things of them, e.g. a create that found its namespace still terminating in one), on
``snapshot``: every object whose name was not generated, by spec, data, labels and annotations
(UIDs masked), and the number of active pods under each owner (a Deployment's, not its
ReplicaSet's: a hash collision, which depends on timing, renames the ReplicaSet).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from impl.apiserver.client import CallRecord
from spec.controllers.desired import desired_left, is_active, leaks, meta
from spec.controllers.invariants import CONVERGE_TICKS_MAX, CONVERGES, FIXPOINT_QUIET, LEVEL_TRIGGERED, NO_LEAK, QUIET_TICKS

__all__ = ["converge", "snapshot", "is_perturbation", "twin_lines", "is_heartbeat", "DIFFERENCES_SHOWN"]

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Not compared by the twin: volatile by nature (heartbeats, events, node status), or named and
# numbered by timing (which intermediate templates got a ReplicaSet and a revision).
NOT_COMPARED = ("leases", "events", "minions", "replicasets", "pods", "controllerrevisions")
VOLATILE_ANNOTATIONS = re.compile(r"^deployment\.kubernetes\.io/")
DIFFERENCES_SHOWN = 3
# User requests whose effect depends on how far the controllers got when they came: a pause
# freezes whatever rollout was under way, an undo goes back to whichever revision had a
# ReplicaSet, an orphaning delete leaves whatever dependents existed, and a claim deleted leaves
# its volume Released (bound-by-controller, its claimRef kept) if the binder had bound it, and
# Available if not. A run with them has no timing-free fixpoint to compare.
_TIMING_DEPENDENT = re.compile(r"^(pause|rollout-undo) |^delete .* propagation=Orphan$|^delete persistentvolumeclaims ")
_PERTURBATION = re.compile(r"^(crash-between-writes|hide-events|lag) |^(crash|restart) (cm\d+|sched|op\d+)\b|"
                           r"^restart \S+ via ")


def is_heartbeat(call: CallRecord) -> bool:
    """A Lease renewal, or a kubelet's node status report: writes a fixpoint keeps making."""
    path = call.request.path
    return "/leases/" in path or "/leases" == path[-7:] or ("/nodes/" in path and path.endswith("/status"))


def _writes_since(cluster: Any, first: int) -> list[CallRecord]:
    hosts = set(cluster.host_ids)
    return [c for c in cluster.api_log.calls[first:]
            if c.client in hosts and c.request.method in WRITE_METHODS and not is_heartbeat(c)]


def _describe(call: CallRecord) -> str:
    agent = next((value for key, value in call.request.headers if key == "User-Agent"), call.client)
    return f"{call.client} {agent.removeprefix('kinv/')} {call.request.method} {call.request.path} at tick {call.started}"


def converge(cluster: Any, twin: Callable[[list[str]], Any] | None) -> None:
    """The fault-free phase and its judgement (raises the violation, as ``cluster.fail`` does)."""
    cluster.heal_everything()
    started = cluster.world.now
    first_call = len(cluster.api_log.calls)
    last_write = started
    for _ in range(CONVERGE_TICKS_MAX):
        cluster.world.tick()
        writes = _writes_since(cluster, first_call)
        first_call = len(cluster.api_log.calls)
        if writes:
            last_write = cluster.world.now
        if cluster.world.now - last_write >= QUIET_TICKS and _controllers_idle(cluster) and not cluster.converged():
            break
    else:
        _not_settled(cluster, started)
    cluster.judging_api = True
    cluster.check()
    lines = [line.removeprefix("maybe ") for line in cluster.lines[1:]]
    if twin is not None and any(map(is_perturbation, lines)) and not any(map(_TIMING_DEPENDENT.match, lines)):
        _compare_with_twin(cluster, twin)


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


def _not_settled(cluster: Any, started: int) -> None:
    objects = cluster.by_resource()
    ticks = cluster.world.now - started
    left = desired_left(objects)
    if left:
        cluster.fail(CONVERGES, f"not converged {ticks} ticks after the last fault and request: " + "; ".join(left[:4]))
    leaked = leaks(objects)
    if leaked:
        cluster.fail(NO_LEAK, f"{ticks} ticks after the last fault and request: " + "; ".join(leaked[:4]))
    recent = _writes_since(cluster, 0)[-DIFFERENCES_SHOWN:]
    cluster.fail(FIXPOINT_QUIET, f"the desired state holds but the controllers keep writing {ticks} ticks after the "
                                 f"last fault and request: " + "; ".join(_describe(c) for c in recent))


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
    if isinstance(spec.get("claimRef"), dict):  # the claim's resourceVersion when bound: a matter of timing
        spec["claimRef"] = {k: v for k, v in spec["claimRef"].items() if k != "resourceVersion"}
    return fields | {"spec": spec, "data": obj.get("data") or {}}


def _masked(value: Any, uids: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, uids) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, uids) for v in value]
    if isinstance(value, str) and value in uids:
        return "<uid>"
    return value
