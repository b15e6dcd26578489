"""What a request line sends: `VERB KIND [NAME] [-n NS] [WORD ...]` to method, path, query and body.

Kinds are kubectl's words (`pod`, `pods`, `po`, `configmap`, `deployments.apps`...). Words:

    label=K=V (repeatable)  data=K=V (repeatable)  containers=N  image=I  privileged
    rule=VERBS:RESOURCES[:GROUP]  role=Role/NAME|ClusterRole/NAME  user=U  group=G  sa=NS/NAME
    pods=N configmaps=N (a quota's hard limits)  rv=N  exact  selector=SELECTOR  limit=N  from=N
    (rv= and from= also take now-K: K revisions before the store's revision when the line runs)
    generate (create with generateName)   grace=N   finalizer=F (finalizer=- : none)
    continue (list: the next page of this client's last list)   uid=UID (delete: a uid precondition)
    clear-deletion (patch: sets metadata.deletionTimestamp to null, which the server must ignore)
    impersonate=USER  impersonate-group=G (repeatable): kubectl --as / --as-group

`update` sends the object as the store last committed it, changed by the words, with
`rv=N` as its resourceVersion (rv=0: none, an unconditional update); `patch` sends a JSON merge
patch of the words (with rv=N: a precondition).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import attrs

from impl.apiserver.resources import ResourceType, UnknownResource, resource_named

__all__ = ["RequestLine", "RequestError", "parse_request", "VERBS", "build_body", "path_of"]

VERBS = ("create", "get", "list", "update", "patch", "delete", "deletecollection", "watch")
_FLAG_WORDS = ("exact", "privileged", "generate", "continue", "clear-deletion")


_RELATIVE = re.compile(r"^now(-\d+)?$")


class RequestError(ValueError):
    """A request line that cannot be sent; the message says why."""


@attrs.frozen
class RequestLine:
    verb: str
    resource: ResourceType
    name: str
    namespace: str
    words: tuple[tuple[str, str], ...]  # (key, value) in order; flags have value ""

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.words if k == key]

    def one(self, key: str, default: str | None = None) -> str | None:
        found = self.all(key)
        return found[-1] if found else default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.words)

    def number(self, key: str, default: int = 0) -> int:
        text = self.one(key)
        return int(text) if text is not None else default

    def resolved(self, revision: int) -> "RequestLine":
        """``rv=now-K`` / ``from=now-K`` as numbers: K revisions before ``revision`` (at least 1),
        so a line means the same after the lines before it are shrunk away."""
        def value(key: str, text: str) -> str:
            if key in ("rv", "from") and _RELATIVE.match(text):
                back = int(text[4:]) if text != "now" else 0
                return str(max(1, revision - back))
            return text
        return attrs.evolve(self, words=tuple((k, value(k, v)) for k, v in self.words))


def _word(word: str) -> tuple[str, str]:
    if word in _FLAG_WORDS:
        return word, ""
    key, sep, value = word.partition("=")
    if not sep or not key:
        raise RequestError(f"unknown word {word!r} (expected KEY=VALUE or one of {', '.join(_FLAG_WORDS)})")
    if key in ("rv", "from") and _RELATIVE.match(value):
        return key, value  # resolved against the store's revision when the line runs
    if key in ("rv", "containers", "limit", "from", "pods", "configmaps", "grace") and not value.isdigit():
        raise RequestError(f"{key}= needs a non-negative integer, got {value!r}")
    return key, value


def parse_request(words: list[str]) -> RequestLine:
    if len(words) < 2 or words[0] not in VERBS:
        raise RequestError(f"usage: VERB KIND [NAME] [-n NS] [WORD ...]; VERB one of {', '.join(VERBS)}")
    verb = words[0]
    try:
        resource = resource_named(words[1])
    except UnknownResource as error:
        raise RequestError(str(error)) from None
    rest = list(words[2:])
    namespace = ""
    if "-n" in rest:
        at = rest.index("-n")
        if at + 1 >= len(rest):
            raise RequestError("-n needs a namespace")
        namespace = rest[at + 1]
        del rest[at:at + 2]
    name = ""
    if rest and "=" not in rest[0] and rest[0] not in _FLAG_WORDS:
        name = rest.pop(0)
    if verb in ("get", "update", "patch", "delete") and not name:
        raise RequestError(f"{verb} needs a name")
    if verb == "create" and not name and "generate" not in rest:
        raise RequestError("create needs a name (or `generate`)")
    if resource.namespaced and not namespace and verb not in ("list", "watch"):
        raise RequestError(f"{resource.plural} live in a namespace: give -n NS")
    return RequestLine(verb, resource, name, namespace if resource.namespaced else "",
                       tuple(_word(w) for w in rest))


def path_of(line: RequestLine) -> str:
    name = line.name if line.verb not in ("create", "list", "watch", "deletecollection") else ""
    return line.resource.path(line.namespace or None, name or None)


def _pairs(values: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (value.partition("=") for value in values)}


def _rule(text: str) -> dict[str, Any]:
    verbs, _, rest = text.partition(":")
    resources, _, group = rest.partition(":")
    return {"apiGroups": [group], "resources": resources.split(","), "verbs": verbs.split(",")}


def _subject(line: RequestLine) -> dict[str, str]:
    if line.one("user"):
        return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": line.one("user")}
    if line.one("group"):
        return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": line.one("group")}
    namespace, _, name = (line.one("sa") or "default/default").partition("/")
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _spec(line: RequestLine) -> dict[str, Any]:
    kind = line.resource.kind
    if kind == "Pod":
        count = max(1, line.number("containers", 1))
        container: dict[str, Any] = {"name": "c1", "image": line.one("image", "nginx:1.25")}
        if line.has("privileged"):
            container["securityContext"] = {"privileged": True}
        return {"spec": {"containers": [container] + [{"name": f"c{i}", "image": "busybox:1.36"}
                                                      for i in range(2, count + 1)]}}
    if kind in ("ConfigMap", "Secret"):
        return {"data": _pairs(line.all("data"))}
    if kind in ("Role", "ClusterRole"):
        return {"rules": [_rule(r) for r in line.all("rule")]}
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        role_kind, _, role = (line.one("role") or "ClusterRole/view").partition("/")
        return {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                "subjects": [_subject(line)]}
    if kind == "ResourceQuota":
        return {"spec": {"hard": {k: line.one(k) for k in ("pods", "configmaps") if line.one(k)}}}
    if kind == "Service":
        return {"spec": {"ports": [{"port": 80}], "selector": _pairs(line.all("label")) or {"app": "web"}}}
    if kind in ("Deployment", "ReplicaSet"):
        labels = {"app": line.name or "web"}
        return {"spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "c1", "image": "nginx:1.25"}]}}}}
    return {}


def build_body(line: RequestLine, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The body of a create (a new object), an update (the stored object, changed) or a patch."""
    if line.verb == "patch":
        patch: dict[str, Any] = {}
        if line.all("label"):
            patch["metadata"] = {"labels": _pairs(line.all("label"))}
        if line.all("data"):
            patch["data"] = _pairs(line.all("data"))
        if line.all("finalizer"):
            patch.setdefault("metadata", {})["finalizers"] = [f for f in line.all("finalizer") if f != "-"]
        if line.all("rule"):
            patch["rules"] = [_rule(r) for r in line.all("rule")]
        if line.has("clear-deletion"):  # a client's attempt to undo a deletion: the server must ignore it
            patch.setdefault("metadata", {}).update(deletionTimestamp=None, deletionGracePeriodSeconds=None)
        if line.number("rv"):
            patch.setdefault("metadata", {})["resourceVersion"] = str(line.number("rv"))
        return patch
    if line.verb == "update":
        body = copy.deepcopy(stored) if stored is not None else {"metadata": {"name": line.name}}
        body["metadata"]["resourceVersion"] = str(line.number("rv")) if line.number("rv") else ""
        if line.all("label"):
            body["metadata"].setdefault("labels", {}).update(_pairs(line.all("label")))
        if line.all("data"):
            body.setdefault("data", {}).update(_pairs(line.all("data")))
        if line.all("rule"):
            body["rules"] = [_rule(r) for r in line.all("rule")]
        if line.all("finalizer"):
            body["metadata"]["finalizers"] = [f for f in line.all("finalizer") if f != "-"]
        return body
    meta: dict[str, Any] = {"generateName": f"{line.name or line.resource.kind.lower()}-"} if line.has("generate") \
        else {"name": line.name}
    if line.all("label"):
        meta["labels"] = _pairs(line.all("label"))
    if line.all("finalizer"):
        meta["finalizers"] = line.all("finalizer")
    resource = line.resource
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta, **_spec(line)}


def delete_options(line: RequestLine) -> dict[str, Any] | None:
    """The DeleteOptions body of a delete with a uid precondition; None without one."""
    if line.verb != "delete" or line.one("uid") is None:
        return None
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": line.one("uid")}}


def impersonation_headers(line: RequestLine) -> tuple[tuple[str, str], ...]:
    headers = tuple(("Impersonate-User", user) for user in line.all("impersonate"))
    return headers + tuple(("Impersonate-Group", group) for group in line.all("impersonate-group"))


def query_of(line: RequestLine) -> tuple[tuple[str, str], ...]:
    query = []
    if line.one("selector"):
        query.append(("labelSelector", line.one("selector")))
    if line.verb in ("get", "list") and line.one("rv") is not None:
        query.append(("resourceVersion", line.one("rv")))
        if line.has("exact"):
            query.append(("resourceVersionMatch", "Exact"))
    if line.one("limit"):
        query.append(("limit", line.one("limit")))
    if line.verb == "delete" and line.one("grace") is not None:
        query.append(("gracePeriodSeconds", line.one("grace")))
    return tuple(query)


__all__ += ["query_of", "delete_options", "impersonation_headers"]
