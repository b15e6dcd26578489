"""The seed's sequence, drawn from a real run: kubectl creates a Deployment, and the controller
manager, the scheduler and the kubelets carry it to pods Running, with the statuses flowing back
up to the Deployment; as a Mermaid sequence diagram.

The diagram is built from the run's ``ApiLog`` only (every ``CallRecord``: which client, what it
asked, what it was answered): one arrow per meaningful write that succeeded, from the component
that made it to the API server, in the order the requests started:

- every write kubectl makes;
- create Deployment, ReplicaSet and Pod, and a pod's binding (the scheduler's);
- the status of a pod (the kubelet's: its phase, and Ready), of a ReplicaSet and of a Deployment
  (the controllers': the counts they report).

What is left out is counted in one note at the top: reads (get and list) and watches; Lease
writes (leader election, node heartbeats) and node status reports; writes refused or never
answered (a 409 on a stale resourceVersion is routine for a controller: it reads again); other
writes (a Deployment's revision annotations, objects outside the namespace drawn). Mermaid reads
``#`` as the start of an entity and ``;`` as the end of a statement, so labels write them as
``#35;`` and ``,`` (the house style of ``checks/report.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from checks.controllers.cluster import KUBECTL, ControllersCluster, ControllersOptions
from impl.apiserver.client import ApiLog, CallRecord
from impl.apiserver.requestinfo import RequestInfo, request_info
from impl.apiserver.status import ApiError

__all__ = ["sequence_diagram", "seed_run", "seed_sequence", "SEED_DEPLOYMENT", "PARTICIPANTS"]

# (role, Mermaid alias, shown as), in the order they stand in the diagram.
PARTICIPANTS = (("kubectl", "kubectl", "kubectl"), ("api", "api", "API server"),
                ("controller-manager", "cm", "controller-manager"), ("scheduler", "sched", "scheduler"),
                ("kubelet", "kubelet", "kubelet"))
_ALIAS = {role: alias for role, alias, _ in PARTICIPANTS}
_LEFT_OUT = ("reads (get, list)", "watches", "heartbeats (Lease writes, node status)", "refused or unanswered writes",
             "other writes")
SEED_DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def _mermaid_text(text: str) -> str:
    return text.replace(";", ",").replace("#", "#35;")


def _info(call: CallRecord) -> RequestInfo | None:
    try:
        info = request_info(call.request)
    except ApiError:
        return None
    return info if info.is_resource_request and info.resource is not None else None


def _name(call: CallRecord, info: RequestInfo) -> str:
    """The object's name: the path's, or the answer's (a generateName create)."""
    body = call.response.body if call.response is not None and isinstance(call.response.body, dict) else {}
    return info.name or (body.get("metadata") or {}).get("name", "")


def _counts(status: dict[str, Any], fields: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{status.get(field, 0)} {shown}" for field, shown in fields)


def _label(call: CallRecord, info: RequestInfo) -> str | None:
    """What the arrow of a successful write says; None if the write is not one drawn."""
    kind, name = info.resource.kind, _name(call, info)
    body = call.response.body if isinstance(call.response.body, dict) else {}
    status = body.get("status") or {}
    if info.verb == "create" and not info.subresource and kind in ("Deployment", "ReplicaSet", "Pod"):
        return f"create {kind} {name}"
    if (kind, info.subresource) == ("Pod", "binding"):
        return f"bind Pod {name} to {_bound_node(call)}"
    if info.subresource != "status" or info.verb not in ("update", "patch"):
        return None
    if kind == "Pod":
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        return f"status of Pod {name}: {status.get('phase', '?')}{', Ready' if ready else ''}"
    if kind == "ReplicaSet":
        return f"status of ReplicaSet {name}: " + _counts(status, (
            ("replicas", "replicas"), ("readyReplicas", "ready"), ("availableReplicas", "available")))
    if kind == "Deployment":
        return f"status of Deployment {name}: " + _counts(status, (
            ("replicas", "replicas"), ("updatedReplicas", "updated"), ("availableReplicas", "available")))
    return None


def _bound_node(call: CallRecord) -> str:
    """The node a binding names, read from the request (its answer is a Status)."""
    try:
        body = json.loads(call.request.body)
    except (ValueError, UnicodeDecodeError):
        return "?"
    return ((body.get("target") or {}).get("name") or "?") if isinstance(body, dict) else "?"


def _left_out(call: CallRecord, info: RequestInfo | None, roles: Mapping[str, str], namespace: str) -> str | None:
    """Why a call is not drawn (one of ``_LEFT_OUT``); None if it is drawn."""
    if call.client not in roles:
        return _LEFT_OUT[4]
    if call.request.method == "GET":
        return _LEFT_OUT[0]
    if info is not None and (info.plural == "leases" or (info.plural, info.subresource) == ("nodes", "status")):
        return _LEFT_OUT[2]
    if call.response is None or not 200 <= call.response.code < 300:
        return _LEFT_OUT[3]
    if call.client == KUBECTL:
        return None
    if info is None or info.namespace != namespace or _label(call, info) is None:
        return _LEFT_OUT[4]
    return None


def _arrow(call: CallRecord, info: RequestInfo | None, roles: Mapping[str, str], grouped: Counter) -> str:
    role = roles[call.client]
    if info is not None and _label(call, info) is not None:
        text = _label(call, info)
    else:
        text = f"{call.request.method} {call.request.path}"
    if grouped[role] > 1:
        text = f"{call.client}: {text}"
    return f"    {_ALIAS[role]}->>api: {_mermaid_text(text)}"


def sequence_diagram(log: ApiLog, roles: Mapping[str, str], namespace: str = "default") -> str:
    """The Mermaid sequence diagram of ``log``: ``roles`` maps each client id to its component
    (kubectl, controller-manager, scheduler or kubelet; calls of other clients are counted, not
    drawn); component writes outside ``namespace`` are counted, not drawn."""
    grouped = Counter(roles.values())
    arrows, left_out = [], Counter()
    for call in log.calls:
        info = _info(call)
        why = _left_out(call, info, roles, namespace)
        if why is None:
            arrows.append(_arrow(call, info, roles, grouped))
        else:
            left_out[why] += 1
    left_out[_LEFT_OUT[1]] += len(log.streams)
    members = {role: sorted(c for c, r in roles.items() if r == role) for role in _ALIAS}
    members["api"] = sorted({call.instance for call in log.calls})
    lines = ["sequenceDiagram"]
    for role, alias, shown in PARTICIPANTS:
        who = f" ({', '.join(members[role])})" if members[role] else ""
        lines.append(f"    participant {alias} as {shown}{who}")
    counted = ", ".join(f"{left_out[why]} {why}" for why in _LEFT_OUT if left_out[why])
    if counted:
        lines.append(f"    Note over kubectl,kubelet: not drawn: {_mermaid_text(counted)}")
    return "\n".join(lines + arrows)


def seed_run(seed: int = 0, ticks_max: int = 400) -> tuple[ControllersCluster, int]:
    """The seed's sequence run: a ready cluster, kubectl's Deployment of 3 replicas in ``default``,
    run until converged and every request then in flight answered (the store can hold the last
    status write before its writer hears back); the cluster and the ticks convergence took."""
    cluster = ControllersCluster(ControllersOptions(seed=seed))
    cluster.run_until_ready()
    answer = cluster.apply(SEED_DEPLOYMENT)
    assert answer.code == 201, answer
    ticks = cluster.run_until_converged(ticks_max)
    cluster.run_until_answered()
    return cluster, ticks


def seed_sequence(seed: int = 0) -> tuple[str, str]:
    """(the Mermaid diagram, a one-line summary) of the seed's sequence."""
    cluster, ticks = seed_run(seed)
    pods = {k: p for k, p in cluster.stored("pods").items() if k.startswith("default/web-")}
    nodes = ", ".join(sorted(p["spec"]["nodeName"] for p in pods.values()))
    summary = (f"kubectl's Deployment default/web of 3 replicas converged {ticks} ticks after its create was "
               f"answered: "
               f"{len(cluster.stored('replicasets'))} ReplicaSet, {len(pods)} pods Running on {nodes}; "
               f"{len(cluster.api_log.calls)} API calls and {len(cluster.api_log.streams)} watches in all.")
    return sequence_diagram(cluster.api_log, cluster.roles()), summary


if __name__ == "__main__":  # pragma: no cover - a quick look
    print("\n".join(seed_sequence()))
