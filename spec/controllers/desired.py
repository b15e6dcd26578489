"""The desired state of the built-in controllers, as rules over what the store holds.

Eventually Stable Reconciliation (spec/controllers/invariants.py, CTRL-CONVERGES) asks that, once
faults and user requests stop, every object reaches the state its controller is meant to give it.
These functions say what that state is, from plain objects (``{"metadata": ..., "spec": ...,
"status": ...}`` dicts keyed ``namespace/name`` or ``name``) and say what is still missing, one
sentence per thing, so a report reads as "deployment default/web: wants 3 replicas, status says
replicas 2, ...".

- ``desired_left``: Deployments, ReplicaSets (and the pods they run), Jobs, Namespaces (each
  active one with its ``default`` ServiceAccount), PersistentVolumeClaims (Bound, to a volume
  that names the claim back and is at least as large as its request), and the Endpoints of
  every Service with a selector; Nodes (a Ready one without the not-ready and unreachable
  taints; no pod left on a node whose NoExecute taint it does not tolerate); nothing left
  half-deleted;
- ``leaks``: what outlived its owner (CTRL-NO-LEAK): objects whose owner references all name
  UIDs the store no longer has, objects in a namespace that is gone, Endpoints without their
  Service, pods bound to a Node that no longer exists.

Sources: Kubernetes documentation, "Deployments" (complete deployment: all replicas updated and
available, no old replicas running; ``kubectl rollout status``), "ReplicaSet", "Jobs"
(completions), "Namespaces" (deletion), "Finalizers" (an object being deleted goes once its finalizers are
done), "Persistent Volumes" (binding), "Garbage Collection"
(owners and dependents), "Service" (Endpoints of a selector), and kube's pod GC (orphaned pods).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["desired_left", "leaks", "deployment_left", "replica_set_left", "job_left", "endpoints_left", "is_active",
           "is_ready", "is_available", "controlled_by", "template_hash_free", "meta"]

Objects = Mapping[str, Mapping[str, dict[str, Any]]]  # storage resource -> key -> object

HASH_LABEL = "pod-template-hash"
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)  # tick 0 of the simulated cluster


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: dict[str, Any]) -> str:
    m = meta(obj)
    return f"{m['namespace']}/{m['name']}" if m.get("namespace") else m.get("name", "")


def is_active(pod: dict[str, Any]) -> bool:
    """Neither finished nor being deleted (what a ReplicaSet counts)."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def is_ready(obj: dict[str, Any]) -> bool:
    """A pod's (or a Node's) Ready condition is True."""
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_available(pod: dict[str, Any], min_ready_seconds: int, now: int) -> bool:
    """Active, and Ready for more than minReadySeconds by ``now`` (a tick: one second after
    2026-01-01T00:00:00Z, as the simulated cluster writes its times)."""
    if not (is_active(pod) and is_ready(pod)):
        return False
    if not min_ready_seconds:
        return True
    since = next((c.get("lastTransitionTime") for c in (pod.get("status") or {}).get("conditions") or ()
                  if c.get("type") == "Ready"), None)
    try:
        moment = datetime.datetime.strptime(since or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return False
    return now - int((moment - EPOCH).total_seconds()) > min_ready_seconds


def controlled_by(obj: dict[str, Any], uid: str | None) -> bool:
    return any(ref.get("controller") and ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or ())


def template_hash_free(template: dict[str, Any] | None) -> dict[str, Any]:
    """A pod template without the ``pod-template-hash`` label the Deployment controller adds to
    its ReplicaSets' templates: what "this ReplicaSet runs that Deployment's template" compares."""
    template = dict(template or {})
    template_meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (template_meta.get("labels") or {}).items() if k != HASH_LABEL}
    template_meta["labels"] = labels
    template["metadata"] = {k: v for k, v in template_meta.items() if v not in ({}, None)}
    return template


def deployment_left(key: str, deployment: dict[str, Any], replica_sets: Iterable[dict[str, Any]]) -> list[str]:
    """Complete: the generation observed, every replica updated and available, exactly one
    ReplicaSet scaled up (the one of the current template). A paused Deployment only needs its
    generation observed."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    left = []
    uid = meta(deployment).get("uid")
    owned = [rs for rs in replica_sets if controlled_by(rs, uid)]
    if scale_stalled(want, owned):
        return left
    if status.get("observedGeneration", 0) < meta(deployment).get("generation", 0):
        left.append(f"deployment {key}: generation {meta(deployment).get('generation')} not observed yet")
    if spec.get("paused"):
        return left
    counts = {f: status.get(f, 0) for f in ("replicas", "updatedReplicas", "availableReplicas")}
    if any(count != want for count in counts.values()):
        shown = ", ".join(f"{f} {c}" for f, c in counts.items())
        left.append(f"deployment {key}: wants {want} replicas, status says {shown}")
    scaled_up = [rs for rs in owned if (rs.get("spec") or {}).get("replicas", 1)]
    current = template_hash_free(spec.get("template"))
    if want and [template_hash_free((rs.get("spec") or {}).get("template")) for rs in scaled_up] != [current]:
        left.append(f"deployment {key}: {len(scaled_up)} ReplicaSets scaled up, not just the one of its template")
    return left


def scale_stalled(want: int, owned: list[dict[str, Any]]) -> bool:
    """kube's Deployment controller stalls for good here, and so does the reference: an active
    ReplicaSet's desired-replicas annotation is not spec.replicas (isScalingEvent, so no rollout
    runs), but the only active ReplicaSet already has spec.replicas (scale() returns before it
    writes, so the annotation never changes). A scale to the old ReplicaSet's size between two steps
    of a rolling update leaves it (scenario controllers-deployment-stalls-on-a-scale-between-steps)."""
    active = [rs for rs in owned if (rs.get("spec") or {}).get("replicas", 1)]
    annotated = [(meta(rs).get("annotations") or {}).get("deployment.kubernetes.io/desired-replicas") for rs in active]
    return len(active) == 1 and (active[0].get("spec") or {}).get("replicas", 1) == want and any(
        value is not None and value.isdigit() and int(value) != want for value in annotated)


def replica_set_left(key: str, replica_set: dict[str, Any], pods: Iterable[dict[str, Any]]) -> list[str]:
    """As many active pods as ``spec.replicas``, counted in its status, each bound, Running and Ready."""
    want = (replica_set.get("spec") or {}).get("replicas", 1)
    reported = (replica_set.get("status") or {}).get("replicas", 0)
    uid = meta(replica_set).get("uid")
    active = [p for p in pods if controlled_by(p, uid) and is_active(p)]
    left = []
    if not reported == want == len(active):
        left.append(f"replicaset {key}: wants {want} replicas, status says {reported}, {len(active)} active pods")
    if meta(replica_set).get("deletionTimestamp"):
        return left
    for pod in active:
        if not (pod.get("spec") or {}).get("nodeName"):
            left.append(f"pod {_key(pod)} of replicaset {key} is not bound")
        elif (pod.get("status") or {}).get("phase") != "Running" or not is_ready(pod):
            left.append(f"pod {_key(pod)} of replicaset {key} is not Running and Ready")
    return left


def job_left(key: str, job: dict[str, Any], pods: Iterable[dict[str, Any]]) -> list[str]:
    """Finished (a Complete or Failed condition) with no pod of it still active, and failed for
    its backoff limit only after more than backoffLimit pods failed; a suspended Job only needs no
    active pod."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    uid = meta(job).get("uid")
    active = [p for p in pods if controlled_by(p, uid) and is_active(p)]
    finished = [c["type"] for c in status.get("conditions") or ()
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"]
    left = []
    if not finished and not spec.get("suspend"):
        left.append(f"job {key}: not finished (succeeded {status.get('succeeded', 0)} of "
                    f"{spec.get('completions', 1)}, failed {status.get('failed', 0)})")
    if "Complete" in finished and status.get("succeeded", 0) < spec.get("completions", 1):
        left.append(f"job {key}: Complete with {status.get('succeeded', 0)} of {spec.get('completions', 1)} succeeded")
    backoff_limit = spec.get("backoffLimit", 6)
    if _failed_for(job, "BackoffLimitExceeded") and status.get("failed", 0) <= backoff_limit:
        left.append(f"job {key}: failed for its backoff limit {backoff_limit} after only {status.get('failed', 0)} "
                    f"failed pods (it fails after more than backoffLimit)")
    if (finished or spec.get("suspend")) and active:
        left.append(f"job {key}: {'finished' if finished else 'suspended'} with {len(active)} pods still active")
    return left


def _failed_for(job: dict[str, Any], reason: str) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True" and c.get("reason") == reason
               for c in (job.get("status") or {}).get("conditions") or ())


def _selected(pod: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = meta(pod).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def endpoints_left(key: str, service: dict[str, Any], endpoints: dict[str, Any] | None,
                   pods: Iterable[dict[str, Any]]) -> list[str]:
    """A Service with a selector has an Endpoints object of its name listing, by pod, every pod
    it selects that has an IP and is not being deleted: the Ready ones as addresses, the others
    as notReadyAddresses."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    if endpoints is None:
        return [f"service {key}: no Endpoints"]
    namespace = meta(service).get("namespace")
    chosen = [p for p in pods if meta(p).get("namespace") == namespace and _selected(p, selector)
              and not meta(p).get("deletionTimestamp") and (p.get("status") or {}).get("podIP")
              and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    wanted = {"addresses": sorted(meta(p)["name"] for p in chosen if is_ready(p)),
              "notReadyAddresses": sorted(meta(p)["name"] for p in chosen if not is_ready(p))}
    found = {field: sorted((a.get("targetRef") or {}).get("name", "") for subset in endpoints.get("subsets") or ()
                           for a in subset.get(field) or ()) for field in wanted}
    return [f"endpoints {key}: {field} {', '.join(found[field]) or 'none'}, not {', '.join(wanted[field]) or 'none'}"
            for field in wanted if found[field] != wanted[field]]


# The taints the node lifecycle controller puts on a node whose Ready condition is False or
# Unknown, and takes off when it is True again (kube's markNodeAsReachable).
READINESS_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def tolerates(pod: dict[str, Any], taint: dict[str, Any]) -> bool:
    """A toleration of ``taint`` with no time limit (kube's ToleratesTaint)."""
    for toleration in (pod.get("spec") or {}).get("tolerations") or ():
        key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
        if key and key != taint.get("key") or not key and operator != "Exists":
            continue
        if operator == "Equal" and (toleration.get("value") or "") != (taint.get("value") or ""):
            continue
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("tolerationSeconds") is None:
            return True
    return False


def evictions_left(nodes: Mapping[str, dict[str, Any]], pods: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """No active pod stays on a node whose NoExecute taint it does not tolerate for ever (the
    readiness taints are node_left's and the harness's: their evictions wait for the node)."""
    left = []
    for key, pod in pods:
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or not is_active(pod):
            continue
        for taint in (node.get("spec") or {}).get("taints") or ():
            if taint.get("effect") == "NoExecute" and taint.get("key") not in READINESS_TAINTS \
                    and not tolerates(pod, taint):
                left.append(f"pod {key}: still on node {meta(node).get('name')}, whose taint "
                            f"{taint.get('key')}:NoExecute it does not tolerate")
    return left


def node_left(key: str, node: dict[str, Any]) -> list[str]:
    """A Ready node carries no taint of not being ready."""
    if not is_ready(node):
        return []
    return [f"node {key} is Ready but still tainted {taint.get('key')}:{taint.get('effect')}"
            for taint in (node.get("spec") or {}).get("taints") or () if taint.get("key") in READINESS_TAINTS]


_STORAGE_SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                     "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def storage_bytes(text: Any) -> int | None:
    """A whole storage quantity ("5Gi", "500M", "1024") in bytes; None for any other form (the
    fractions and exponents the Quantity format also has are not judged here)."""
    digits = str(text).rstrip("kMGTi")
    suffix = str(text)[len(digits):]
    if not digits.isdigit() or suffix not in _STORAGE_SUFFIXES:
        return None
    return int(digits) * _STORAGE_SUFFIXES[suffix]


def _claim_left(key: str, claim: dict[str, Any], volumes: Mapping[str, dict[str, Any]]) -> list[str]:
    """Bound, to a volume that names the claim back and holds at least what it requests."""
    phase = (claim.get("status") or {}).get("phase")
    if meta(claim).get("deletionTimestamp"):
        return []
    if phase != "Bound":
        return [f"persistentvolumeclaim {key}: {phase or 'no phase'}, not Bound"]
    name = (claim.get("spec") or {}).get("volumeName") or ""
    volume = volumes.get(name)
    if volume is None:
        return [f"persistentvolumeclaim {key}: Bound to volume {name or '(none)'}, which does not exist"]
    if ((volume.get("spec") or {}).get("claimRef") or {}).get("uid") != meta(claim).get("uid"):
        return [f"persistentvolumeclaim {key}: Bound to volume {name}, which is bound to another claim"]
    requested = storage_bytes((((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"))
    capacity = storage_bytes(((volume.get("spec") or {}).get("capacity") or {}).get("storage"))
    if requested is not None and capacity is not None and capacity < requested:
        return [f"persistentvolumeclaim {key}: Bound to volume {name}, smaller than the claim's request"]
    return []


_KIND_OF = {"namespaces": "namespace", "pods": "pod", "deployments": "deployment", "replicasets": "replicaset",
            "jobs": "job", "minions": "node"}


def desired_left(objects: Objects) -> list[str]:
    """What is not yet as its controller should make it (empty: converged)."""
    pods = objects.get("pods", {})
    replica_sets = objects.get("replicasets", {})
    left: list[str] = []
    for key, deployment in objects.get("deployments", {}).items():
        left += deployment_left(key, deployment, replica_sets.values())
    for key, replica_set in replica_sets.items():
        left += replica_set_left(key, replica_set, pods.values())
    for key, job in objects.get("jobs", {}).items():
        left += job_left(key, job, pods.values())
    nodes = objects.get("minions", {})
    for resource in sorted(objects):
        for key, obj in objects[resource].items():
            node = nodes.get((obj.get("spec") or {}).get("nodeName") or "") if resource == "pods" else None
            if node is not None and not is_ready(node):
                continue  # a pod's end is its kubelet's to confirm: kube waits for the node to come back
            if meta(obj).get("deletionTimestamp"):
                finalizers = ", ".join(meta(obj).get("finalizers") or ()) or "no finalizer"
                left.append(f"{_KIND_OF.get(resource, resource)} {key} is still being deleted ({finalizers})")
    volumes = objects.get("persistentvolumes", {})
    for key, claim in objects.get("persistentvolumeclaims", {}).items():
        left += _claim_left(key, claim, volumes)
    endpoints = objects.get("endpoints", {})
    for key, service in objects.get("services", {}).items():
        left += endpoints_left(key, service, endpoints.get(key), pods.values())
    for key, node in nodes.items():
        left += node_left(key, node)
    left += evictions_left(nodes, pods.items())
    accounts = objects.get("serviceaccounts", {})
    for key, namespace in objects.get("namespaces", {}).items():
        if (namespace.get("status") or {}).get("phase", "Active") == "Active" and f"{key}/default" not in accounts:
            left.append(f"namespace {key}: no ServiceAccount default")
    return left


def leaks(objects: Objects) -> list[str]:
    """What outlived what it belongs to (empty: nothing leaked)."""
    uids = {meta(obj).get("uid") for by_key in objects.values() for obj in by_key.values()}
    found = []
    for resource in sorted(objects):
        for key, obj in objects[resource].items():
            refs = meta(obj).get("ownerReferences") or []
            if refs and all(ref.get("uid") not in uids for ref in refs) and not meta(obj).get("deletionTimestamp"):
                owners = ", ".join(f"{r.get('kind', '')} {r.get('name', '')}" for r in refs)
                found.append(f"{resource} {key}: its owners are all gone ({owners})")
    namespaces = objects.get("namespaces", {})
    for resource in sorted(objects):
        for key, obj in objects[resource].items():
            namespace = meta(obj).get("namespace")
            if namespace and namespace not in namespaces:
                found.append(f"{resource} {key}: its namespace {namespace} is gone")
    services = objects.get("services", {})
    for key in objects.get("endpoints", {}):
        if key not in services:
            found.append(f"endpoints {key}: no Service {key}")
    nodes = objects.get("minions", {})
    for key, pod in objects.get("pods", {}).items():
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in nodes:
            found.append(f"pod {key}: bound to node {node}, which no longer exists")
    return found
