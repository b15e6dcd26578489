"""An independent evaluation of Kubernetes RBAC over policy objects as the API returns them (dicts).

It is the second version of N-version checking: written from the Kubernetes documentation
("Using RBAC Authorization": Role and ClusterRole, RoleBinding and ClusterRoleBinding, referring to
resources and subresources, aggregated ClusterRoles, referring to subjects) and the matchers of
``pkg/apis/rbac/v1/evaluation_helpers.go``, not from impl/, and checked against
impl/apiserver/authz/rbac.py by a differential test. The rules a learner should keep:

- A request is allowed when some binding that applies to the user (a subject names the user,
  one of its groups, or its service account) and covers the request's namespace refers to a role
  with a rule that allows the request. RBAC only adds: there is no deny.
- A ClusterRoleBinding covers every namespace and cluster-scoped requests; a RoleBinding covers
  only requests in its own namespace, also when it refers to a ClusterRole.
- A rule allows a resource request when a verb matches (``*`` or exact), an apiGroup matches
  (``*`` or exact, ``""`` the core group), a resource matches (``*``, exact ``res`` or
  ``res/sub``, or ``*/sub`` for subresource ``sub`` of any resource) and the name matches (no
  resourceNames: any name). A non-resource request needs a matching nonResourceURL: ``*``, the
  exact path, or a prefix ending in ``*``.
- An aggregated ClusterRole (``aggregationRule.clusterRoleSelectors``) has the union of the rules of
  every other ClusterRole one of its selectors matches; aggregation is transitive (admin gathers
  edit, which gathers view). Its own stored rules are what the aggregation controller writes, so
  they are recomputed here.

Plain data only; spec/ imports nothing from impl/ or checks/.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["AccessRequest", "allows", "rule_allows", "effective_rules", "policy_at", "selector_matches",
           "service_account_user", "RBAC_RESOURCES", "RBAC_KINDS", "rule_atoms", "ALL"]

ALL = "*"
RBAC_GROUP = "rbac.authorization.k8s.io"
# storage resource -> kind, for the objects policy_at replays from the store
RBAC_KINDS: dict[str, str] = {"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding",
                              "clusterrolebindings": "ClusterRoleBinding"}
RBAC_RESOURCES = tuple(RBAC_KINDS)
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@attrs.frozen
class AccessRequest:
    """The authorizer's attributes of one request (``resource_request`` False: a URL request)."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    resource_request: bool = True

    def describe(self) -> str:
        if not self.resource_request:
            return f"{self.verb} {self.path}"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        what += f".{self.api_group}" if self.api_group else ""
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}" + (f" named {self.name}" if self.name else "") + where


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def _strings(rule: Mapping[str, Any], field: str) -> list[str]:
    value = rule.get(field) or []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def _resource_matches(allowed: Sequence[str], resource: str, subresource: str) -> bool:
    wanted = f"{resource}/{subresource}" if subresource else resource
    return any(item in (ALL, wanted) or (subresource != "" and item == f"*/{subresource}") for item in allowed)


def _url_matches(allowed: Sequence[str], path: str) -> bool:
    return any(item in (ALL, path) or (item.endswith(ALL) and path.startswith(item.rstrip(ALL)))
               for item in allowed)


def rule_allows(rule: Mapping[str, Any], request: AccessRequest) -> bool:
    """Whether one PolicyRule (a dict) allows the request."""
    verbs = _strings(rule, "verbs")
    if ALL not in verbs and request.verb not in verbs:
        return False
    if not request.resource_request:
        return _url_matches(_strings(rule, "nonResourceURLs"), request.path)
    groups = _strings(rule, "apiGroups")
    if ALL not in groups and request.api_group not in groups:
        return False
    if not _resource_matches(_strings(rule, "resources"), request.resource, request.subresource):
        return False
    names = _strings(rule, "resourceNames")
    return not names or request.name in names


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector dict: every matchLabels pair and matchExpression must hold; ``{}``
    selects everything, a null selector nothing."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _rules(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in obj.get("rules") or [] if isinstance(r, Mapping)]


def _aggregation(obj: Mapping[str, Any]) -> list[Any] | None:
    rule = obj.get("aggregationRule")
    if not isinstance(rule, Mapping):
        return None
    return list(rule.get("clusterRoleSelectors") or [])


def effective_rules(policy_objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    """(kind, namespace, name) -> the rules every Role and ClusterRole grants, aggregation resolved
    to its least fixpoint: aggregated ClusterRoles start empty and gather, round by round, the
    rules of the other ClusterRoles their selectors match, until a round adds nothing."""
    roles = [o for o in policy_objects if o.get("kind") in ("Role", "ClusterRole")]
    rules: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for role in roles:
        namespace = _meta(role).get("namespace", "") if role["kind"] == "Role" else ""
        aggregated = role["kind"] == "ClusterRole" and _aggregation(role) is not None
        rules[(role["kind"], namespace or "", _meta(role).get("name", ""))] = [] if aggregated else _rules(role)
    cluster = [r for r in roles if r["kind"] == "ClusterRole"]
    aggregators = [r for r in cluster if _aggregation(r) is not None]
    for _ in range(len(cluster) + 1):  # each round lengthens every chain by one
        grew = False
        for target in aggregators:
            name = _meta(target).get("name", "")
            gathered = rules[("ClusterRole", "", name)]
            for source in cluster:
                source_name = _meta(source).get("name", "")
                labels = _meta(source).get("labels") or {}
                if source_name == name or not any(selector_matches(s, labels) for s in _aggregation(target)):
                    continue
                for rule in rules[("ClusterRole", "", source_name)]:
                    if rule not in gathered:
                        gathered.append(rule)
                        grew = True
        if not grew:
            break
    return rules


_RULES_REMEMBERED_MAX = 64
_remembered: dict[tuple, tuple] = {}


def _fingerprint(objects: Sequence[Mapping[str, Any]]) -> tuple:
    """Which policy this is: every role's identity and version (a stored object changes its
    resourceVersion with every write; the bootstrap objects never change)."""
    return tuple((o.get("kind"), _meta(o).get("namespace", ""), _meta(o).get("name", ""),
                  _meta(o).get("resourceVersion", ""), id(o) if not _meta(o).get("resourceVersion") else 0)
                 for o in objects if o.get("kind") in ("Role", "ClusterRole"))


def _remembered_rules(objects: Sequence[Mapping[str, Any]]) -> dict:
    """``effective_rules``, remembered per policy: the checks ask about the same policy for
    every request made while it was in force."""
    key = _fingerprint(objects)
    found = _remembered.get(key)
    if found is None:
        if len(_remembered) >= _RULES_REMEMBERED_MAX:
            _remembered.clear()
        # The objects are kept with their rules: while remembered, no other object can take the
        # id() an object without a resourceVersion is known by.
        found = _remembered[key] = (objects, effective_rules(objects))
    return found[1]


def _subject_matches(subject: Mapping[str, Any], user: str, groups: frozenset[str], binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user == service_account_user(namespace, name)
    return False


def _granted_rules(policy_objects: Sequence[Mapping[str, Any]], user: str, groups: frozenset[str],
                   namespace: str, rules: dict) -> Iterable[Mapping[str, Any]]:
    for binding in policy_objects:
        kind = binding.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        binding_namespace = (_meta(binding).get("namespace") or "") if kind == "RoleBinding" else ""
        if kind == "RoleBinding" and (not namespace or binding_namespace != namespace):
            continue
        subjects = [s for s in binding.get("subjects") or [] if isinstance(s, Mapping)]
        if not any(_subject_matches(s, user, groups, binding_namespace) for s in subjects):
            continue
        ref = binding.get("roleRef") or {}
        ref_namespace = binding_namespace if ref.get("kind") == "Role" else ""
        yield from rules.get((ref.get("kind", ""), ref_namespace, ref.get("name", "")), [])


def allows(policy_objects: Iterable[Mapping[str, Any]], user: str, groups: Iterable[str],
           request: AccessRequest) -> bool:
    """Whether RBAC over ``policy_objects`` allows ``user`` in ``groups`` to make ``request``.
    The bindings consulted are those covering ``request.namespace`` (also for a URL request, which
    the API server always asks with no namespace; escalation checks ask in a namespace)."""
    objects = list(policy_objects)
    rules = _remembered_rules(objects)
    granted = _granted_rules(objects, user, frozenset(groups), request.namespace, rules)
    return any(rule_allows(rule, request) for rule in granted)


def rule_atoms(rule: Mapping[str, Any], namespace: str) -> list[AccessRequest]:
    """One request per verb, apiGroup, resource and resourceName (or verb and URL) of a rule: a
    writer holds the rule when it is allowed every atom (kube's ``Covers`` breaks rules down the
    same way; a wildcard atom is held only through a wildcard)."""
    verbs = _strings(rule, "verbs")
    atoms = [AccessRequest(verb, path=url, namespace=namespace, resource_request=False)
             for verb in verbs for url in _strings(rule, "nonResourceURLs")]
    for verb in verbs:
        for group in _strings(rule, "apiGroups"):
            for resource in _strings(rule, "resources"):
                base, _, sub = resource.partition("/")
                for name in _strings(rule, "resourceNames") or [""]:
                    atoms.append(AccessRequest(verb, group, base, sub, name, namespace))
    return atoms


def policy_at(changes: Iterable[Any], revision: int, base: Iterable[Mapping[str, Any]] = ()) -> tuple[dict, ...]:
    """The RBAC objects in force at ``revision``: ``base`` (the bootstrap policy), overridden and
    extended by the Roles, ClusterRoles and bindings the store held at ``revision`` (replaying
    ``changes``, which carry ``revision``, ``resource``, ``key`` and ``object``)."""
    current: dict[tuple[str, str, str], dict] = {}
    for obj in base:
        current[(obj.get("kind", ""), _meta(obj).get("namespace") or "", _meta(obj).get("name", ""))] = dict(obj)
    for change in changes:
        if change.revision > revision or change.resource not in RBAC_KINDS:
            continue
        kind = RBAC_KINDS[change.resource]
        key = (kind, change.namespace or "", change.name)
        if change.object is None:
            current.pop(key, None)
        else:
            current[key] = {**change.object, "kind": change.object.get("kind") or kind}
    return tuple(current[key] for key in sorted(current))
