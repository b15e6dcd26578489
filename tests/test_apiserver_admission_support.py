"""Shared fixtures for the admission tests: a lookup over a dict of objects, request builders,
and Hypothesis strategies for pods and claims (no tests here)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.authz.types import UserInfo
from impl.apiserver.resources import resource_for

USER = UserInfo("alice", ("system:authenticated",))


class FakeLookup:
    """Objects by (plural, namespace, name); ``get`` and ``list`` return copies, as a cache would."""

    def __init__(self, *objects: tuple[str, dict[str, Any]]) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        for plural, obj in objects:
            self.add(plural, obj)

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(plural, meta.get("namespace"), meta["name"])] = obj

    def get(self, plural, namespace, name, group=""):
        found = self.objects.get((plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(self, plural, namespace, group=""):
        return [copy.deepcopy(o) for (p, ns, _), o in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
                if p == plural and (namespace is None or ns == namespace)]


def namespace(name: str, labels: dict[str, str] | None = None, phase: str = "Active") -> tuple[str, dict]:
    return ("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": labels or {}}, "status": {"phase": phase}})


def service_account(ns: str, name: str = "default", **fields: Any) -> tuple[str, dict]:
    return ("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": name, "namespace": ns}, **fields})


def request(plural: str, obj: dict | None, operation: str = "CREATE", *, group: str = "", ns: str = "ns",
            name: str | None = None, old: dict | None = None, subresource: str = "") -> AdmissionAttributes:
    resource = resource_for(group, plural)
    if name is None:
        name = ((obj or old or {}).get("metadata") or {}).get("name", "")
    return AdmissionAttributes(operation, resource, subresource, ns if resource.namespaced else "", name, USER,
                               obj, old)


def pod(name: str = "p", *containers: dict, ns: str = "ns", **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "nginx"}], **spec}}


def container(name: str = "c", requests: dict | None = None, limits: dict | None = None, **more: Any) -> dict:
    c: dict[str, Any] = {"name": name, "image": "nginx", **more}
    if requests is not None or limits is not None:
        c["resources"] = {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}
    return c


def claim(name: str = "data", storage: str = "1Gi", ns: str = "ns", **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}, **spec}}


# -- strategies -----------------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "web", "side"])
_cpu = st.sampled_from(["100m", "250m", "1", "2"])
_memory = st.sampled_from(["64Mi", "128Mi", "1Gi"])


@st.composite
def resource_lists(draw) -> dict:
    out = {}
    if draw(st.booleans()):
        out["cpu"] = draw(_cpu)
    if draw(st.booleans()):
        out["memory"] = draw(_memory)
    return out


@st.composite
def containers(draw, name: str) -> dict:
    c: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(["nginx", "busybox"]))}
    resources = {k: v for k in ("requests", "limits") if (v := draw(resource_lists()))}
    if resources:
        c["resources"] = resources
    if draw(st.booleans()):
        c["volumeMounts"] = [{"name": "x", "mountPath": draw(st.sampled_from(
            ["/data", "/var/run/secrets/kubernetes.io/serviceaccount"]))}]
    return c


_tolerations = st.lists(st.fixed_dictionaries({
    "key": st.sampled_from(["", "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "other"]),
    "operator": st.sampled_from(["Exists", "Equal"]),
    "effect": st.sampled_from(["", "NoExecute", "NoSchedule"]),
}), max_size=3)


@st.composite
def pods(draw) -> dict:
    names = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    spec: dict[str, Any] = {"containers": [draw(containers(n)) for n in names]}
    if draw(st.booleans()):
        spec["initContainers"] = [draw(containers("init"))]
    if draw(st.booleans()):
        spec["tolerations"] = draw(_tolerations)
    if draw(st.booleans()):
        spec["automountServiceAccountToken"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["serviceAccountName"] = "default"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


@st.composite
def claims(draw) -> dict:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": draw(st.sampled_from(["1Gi", "5Gi"]))}}}
    choice = draw(st.sampled_from(["absent", "empty", "fast"]))
    if choice != "absent":
        spec["storageClassName"] = "" if choice == "empty" else "fast"
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "ns"},
            "spec": spec}
