"""Loading RBAC policy from YAML as ``kubectl get roles,rolebindings,clusterroles,
clusterrolebindings -A -o yaml`` writes it: single documents, multi-document streams and
``kind: List``, from files or folders (``*.yaml``, ``*.yml``, ``*.json``, sorted by path).

Objects of other kinds are skipped, so a whole-cluster dump loads. An invalid RBAC object stops
the load with one line, ``FILE: KIND NAMESPACE/NAME: what is wrong``, following the checks of
``pkg/apis/rbac/validation``. A namespaced object without a namespace lands in the default
namespace (``default``, or the one given, as ``kubectl apply -n NS`` does); ``Loaded.defaulted``
names those objects, so a caller can say so. An unrendered Helm template is refused with a hint
to render it first. YAML is read with libyaml's C parser when PyYAML has it (``CSafeLoader``).
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path
from typing import Any

import attrs
import yaml

from impl.apiserver.authz.rbac import Policy
from impl.apiserver.authz.types import (
    RBAC_GROUP, Binding, LabelSelector, LabelSelectorRequirement, PolicyRule, Role, RoleRef, Subject,
)

__all__ = ["ManifestError", "Loaded", "load_manifests", "bootstrap_policy", "with_bootstrap", "load_policy", "policy_from_objects", "policy_from_text",
           "policy_to_yaml", "MANIFEST_SUFFIXES", "HELM_HINT"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
DEFAULT_NAMESPACE = "default"
BOOTSTRAP_FOLDER = "bootstrap-policy"
# libyaml's parser is about ten times faster than the pure-Python one on multi-megabyte installs.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TEMPLATE_MARK = "{{"
HELM_HINT = "an unrendered Helm template ({{ ... }}); render it first (helm template RELEASE CHART > rendered.yaml) and pass that file"


class ManifestError(ValueError):
    """An unreadable file or an invalid object; the message is one line naming both."""


class _Invalid(ValueError):
    """Raised deep in parsing; ``_parse_object`` adds the file and object to the message."""


@attrs.frozen
class Loaded:
    """A loaded policy and the namespaced objects that had no namespace (described)."""

    policy: Policy
    defaulted: tuple[str, ...] = ()


def load_manifests(paths: list[str | Path], default_namespace: str | None = None) -> Loaded:
    """Every RBAC object in the given files and folders, as one policy; objects without a
    namespace get ``default_namespace`` (``default`` when None)."""
    policy, defaulted = Policy(), []
    for path in _manifest_files(paths):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"{path}: cannot read: {error.__class__.__name__}") from None
        loaded = policy_from_text(text, str(path), default_namespace, defaulted)
        # The same object in two files would make the answer depend on the order of the files.
        _reject_duplicates(list(policy.roles + loaded.roles), list(policy.bindings + loaded.bindings), str(path))
        policy = policy.merged(loaded)
    return Loaded(policy, tuple(defaulted))


@functools.lru_cache(maxsize=1)
def bootstrap_policy() -> Policy:
    """The default policy of a fresh cluster (package data, from kubernetes/kubernetes'
    bootstrap policy; see ``bootstrap-policy/README.md``). Read once: a Policy is immutable."""
    folder = importlib.resources.files("impl.apiserver.authz") / BOOTSTRAP_FOLDER
    policy = Policy()
    for name in sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".yaml")):
        policy = policy.merged(policy_from_text((folder / name).read_text(), f"<bootstrap policy>/{name}"))
    return policy


def with_bootstrap(policy: Policy) -> Policy:
    """``policy`` on top of the bootstrap policy, as every real cluster has it; an object of the
    user's with the same kind, namespace and name replaces the default one (a dump of a real
    cluster holds its own copy of each)."""
    defaults = bootstrap_policy()
    roles = {r.key for r in policy.roles}
    bindings = {(b.kind, b.namespace, b.name) for b in policy.bindings}
    return Policy(tuple(r for r in defaults.roles if r.key not in roles) + policy.roles,
                  tuple(b for b in defaults.bindings if (b.kind, b.namespace, b.name) not in bindings) + policy.bindings)


def load_policy(paths: list[str | Path], default_namespace: str | None = None) -> Policy:
    """Every RBAC object in the given files and folders, as one policy."""
    return load_manifests(paths, default_namespace).policy


def _manifest_files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f"{path}: no such file or folder")
    return files


def policy_from_text(text: str, filename: str, default_namespace: str | None = None,
                     defaulted: list[str] | None = None) -> Policy:
    try:
        documents = _load_documents(text)
    except yaml.YAMLError as error:
        if TEMPLATE_MARK in text:
            raise ManifestError(f"{filename}:{_first_line_with(text, TEMPLATE_MARK)}: {HELM_HINT}") from None
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1 + getattr(error, 'line_offset', 0)}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "malformed YAML"
        raise ManifestError(f"{filename}{where}: invalid YAML: {problem}") from None
    return policy_from_objects(documents, filename, default_namespace, defaulted)


_RBAC_KIND = re.compile(r"""kind["']?\s*:\s*["']?(?:Cluster)?Role(?:Binding)?\b""")
_DOCUMENT_MARKER = re.compile(r"^---[ \t]*$", re.MULTILINE)
SKIPPABLE_CHARS_MIN = 16_384  # a document this long that names no RBAC kind is not even parsed


def _load_documents(text: str) -> list[Any]:
    """Every document of the stream. A long document that names no RBAC kind (a CRD's schema, in
    an install manifest) stands as ``{}`` without being parsed: building its values is what costs,
    and it is skipped anyway. Every other document is parsed in full, so its errors still show."""
    documents: list[Any] = []
    line = 0
    for chunk in _DOCUMENT_MARKER.split(text):
        if len(chunk) >= SKIPPABLE_CHARS_MIN and not _RBAC_KIND.search(chunk):
            documents.append({})
        else:
            documents.extend(_documents_of(chunk, line))
        line += chunk.count("\n") + 1  # and the marker's line
    return documents


def _documents_of(chunk: str, line: int) -> list[Any]:
    try:
        return list(yaml.load_all(chunk, Loader=_LOADER))
    except yaml.YAMLError as error:
        error.line_offset = line  # the chunk's lines count from its own first line
        raise


def _first_line_with(text: str, mark: str) -> int:
    return text[:text.index(mark)].count("\n") + 1


def policy_from_objects(documents: list[Any], filename: str, default_namespace: str | None = None,
                        defaulted: list[str] | None = None) -> Policy:
    """Parse already-decoded documents (dicts; ``kind: List`` is flattened). Namespaced objects
    without a namespace get ``default_namespace`` and are named in ``defaulted``."""
    roles: list[Role] = []
    bindings: list[Binding] = []
    for index, obj in _flatten(documents, filename):
        parsed = _parse_object(obj, filename, index, default_namespace or DEFAULT_NAMESPACE)
        if isinstance(parsed, (Role, Binding)) and defaulted is not None and not _namespace_of(obj) \
                and parsed.kind in ("Role", "RoleBinding"):
            defaulted.append(f"{parsed.kind} {parsed.name}")
        if isinstance(parsed, Role):
            roles.append(parsed)
        elif isinstance(parsed, Binding):
            bindings.append(parsed)
    _reject_duplicates(roles, bindings, filename)
    return Policy(tuple(roles), tuple(bindings))


def _namespace_of(obj: dict) -> str:
    meta = obj.get("metadata")
    return meta.get("namespace") or "" if isinstance(meta, dict) else ""


def _flatten(documents: list[Any], filename: str):
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{filename}: document {index + 1}: expected a mapping, got {type(doc).__name__}")
        if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List") and "items" in doc):
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise ManifestError(f"{filename}: document {index + 1}: items must be a list")
            for item_index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ManifestError(f"{filename}: item {item_index + 1}: expected a mapping")
                yield f"item {item_index + 1}", item
        else:
            yield f"document {index + 1}", doc


def _describe(obj: dict, index: str) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") or f"<unnamed, {index}>"
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '<no kind>')} {namespace}{name}"


def _parse_object(obj: dict, filename: str, index: str, default_namespace: str = DEFAULT_NAMESPACE) -> Role | Binding | None:
    kind = obj.get("kind")
    api_version = str(obj.get("apiVersion", ""))
    if kind not in ROLE_KINDS + BINDING_KINDS:
        return None  # not RBAC: skipped, so a whole-cluster dump loads
    if TEMPLATE_MARK in repr(obj):  # a quoted template parses as YAML; its names would be template text
        raise ManifestError(f"{filename}: {_describe(obj, index)}: {HELM_HINT}")
    try:
        if not api_version.startswith(RBAC_GROUP + "/"):
            raise _Invalid(f"apiVersion must be {RBAC_GROUP}/v1, got {api_version!r}")
        name, namespace, labels = _metadata(obj, kind, default_namespace)
        if kind in ROLE_KINDS:
            return _parse_role(obj, kind, name, namespace, labels)
        return _parse_binding(obj, kind, name, namespace)
    except _Invalid as error:
        raise ManifestError(f"{filename}: {_describe(obj, index)}: {error}") from None


def _metadata(obj: dict, kind: str, default_namespace: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise _Invalid("metadata must be a mapping")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid("metadata.name is required")
    namespaced = kind in ("Role", "RoleBinding")
    namespace = meta.get("namespace") or (default_namespace if namespaced else "")
    if not isinstance(namespace, str):
        raise _Invalid("metadata.namespace must be a string")
    if not namespaced:
        namespace = ""  # cluster-scoped: a stray namespace is ignored, as the API server does
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise _Invalid("metadata.labels must be a mapping")
    return name, namespace, tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"{field} must be a list of strings")
    return tuple(value)


def _parse_rule(raw: Any, number: int, namespaced: bool) -> PolicyRule:
    if not isinstance(raw, dict):
        raise _Invalid(f"rules[{number}] must be a mapping")
    rule = PolicyRule(
        verbs=_strings(raw.get("verbs"), f"rules[{number}].verbs"),
        api_groups=_strings(raw.get("apiGroups"), f"rules[{number}].apiGroups"),
        resources=_strings(raw.get("resources"), f"rules[{number}].resources"),
        resource_names=_strings(raw.get("resourceNames"), f"rules[{number}].resourceNames"),
        non_resource_urls=_strings(raw.get("nonResourceURLs"), f"rules[{number}].nonResourceURLs"),
    )
    if not rule.verbs:
        raise _Invalid(f"rules[{number}].verbs: required")
    if rule.non_resource_urls:
        if namespaced:
            raise _Invalid(f"rules[{number}].nonResourceURLs: namespaced rules cannot apply to non-resource URLs")
        if rule.api_groups or rule.resources:
            raise _Invalid(f"rules[{number}]: rules cannot apply to both regular resources and non-resource URLs")
        return rule
    if not rule.api_groups:
        raise _Invalid(f"rules[{number}].apiGroups: required (use \"\" for the core group)")
    if not rule.resources:
        raise _Invalid(f"rules[{number}].resources: required")
    return rule


def _parse_role(obj: dict, kind: str, name: str, namespace: str, labels) -> Role:
    raw_rules = obj.get("rules") or []
    if not isinstance(raw_rules, list):
        raise _Invalid("rules must be a list")
    rules = tuple(_parse_rule(raw, i, kind == "Role") for i, raw in enumerate(raw_rules))
    aggregation = None
    if obj.get("aggregationRule") is not None:
        if kind != "ClusterRole":
            raise _Invalid("aggregationRule is only allowed on a ClusterRole")
        aggregation = _parse_aggregation(obj["aggregationRule"])
    return Role(kind=kind, name=name, namespace=namespace, rules=rules, labels=labels, aggregation=aggregation)


def _parse_aggregation(raw: Any) -> tuple[LabelSelector, ...]:
    if not isinstance(raw, dict):
        raise _Invalid("aggregationRule must be a mapping")
    selectors = raw.get("clusterRoleSelectors") or []
    if not isinstance(selectors, list):
        raise _Invalid("aggregationRule.clusterRoleSelectors must be a list")
    return tuple(_parse_selector(s, i) for i, s in enumerate(selectors))


def _parse_selector(raw: Any, number: int) -> LabelSelector:
    where = f"aggregationRule.clusterRoleSelectors[{number}]"
    if not isinstance(raw, dict):
        raise _Invalid(f"{where} must be a mapping")
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict):
        raise _Invalid(f"{where}.matchLabels must be a mapping")
    expressions = []
    for i, expr in enumerate(raw.get("matchExpressions") or []):
        if not isinstance(expr, dict) or expr.get("operator") not in SELECTOR_OPERATORS or not expr.get("key"):
            raise _Invalid(f"{where}.matchExpressions[{i}]: needs key and operator in {', '.join(SELECTOR_OPERATORS)}")
        values = _strings(expr.get("values"), f"{where}.matchExpressions[{i}].values")
        expressions.append(LabelSelectorRequirement(str(expr["key"]), expr["operator"], values))
    return LabelSelector(tuple(sorted((str(k), str(v)) for k, v in labels.items())), tuple(expressions))


def _parse_binding(obj: dict, kind: str, name: str, namespace: str) -> Binding:
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        raise _Invalid("roleRef is required")
    allowed = ("Role", "ClusterRole") if kind == "RoleBinding" else ("ClusterRole",)
    if ref.get("kind") not in allowed:
        raise _Invalid(f"roleRef.kind must be {' or '.join(allowed)}, got {ref.get('kind')!r}")
    if ref.get("apiGroup", RBAC_GROUP) != RBAC_GROUP:
        raise _Invalid(f"roleRef.apiGroup must be {RBAC_GROUP}")
    if not isinstance(ref.get("name"), str) or not ref["name"]:
        raise _Invalid("roleRef.name is required")
    raw_subjects = obj.get("subjects") or []
    if not isinstance(raw_subjects, list):
        raise _Invalid("subjects must be a list")
    subjects = tuple(_parse_subject(s, i, kind) for i, s in enumerate(raw_subjects))
    return Binding(kind=kind, name=name, namespace=namespace, role_ref=RoleRef(ref["kind"], ref["name"]), subjects=subjects)


def _parse_subject(raw: Any, number: int, binding_kind: str) -> Subject:
    where = f"subjects[{number}]"
    if not isinstance(raw, dict):
        raise _Invalid(f"{where} must be a mapping")
    kind, name = raw.get("kind"), raw.get("name")
    if kind not in SUBJECT_KINDS:
        raise _Invalid(f"{where}.kind must be one of {', '.join(SUBJECT_KINDS)}, got {kind!r}")
    if not isinstance(name, str) or not name:
        raise _Invalid(f"{where}.name is required")
    namespace = raw.get("namespace") or ""
    if not isinstance(namespace, str):
        raise _Invalid(f"{where}.namespace must be a string")
    if kind == "ServiceAccount" and binding_kind == "ClusterRoleBinding" and not namespace:
        raise _Invalid(f"{where}.namespace is required for a ServiceAccount in a ClusterRoleBinding")
    return Subject(kind=kind, name=name, namespace=namespace if kind == "ServiceAccount" else "")


def _reject_duplicates(roles: list[Role], bindings: list[Binding], filename: str) -> None:
    seen: set[tuple[str, str, str]] = set()
    for key in [r.key for r in roles] + [(b.kind, b.namespace, b.name) for b in bindings]:
        if key in seen:
            where = f"{key[1]}/" if key[1] else ""
            raise ManifestError(f"{filename}: {key[0]} {where}{key[2]}: defined twice")
        seen.add(key)


def _rule_object(rule: PolicyRule) -> dict:
    fields = (("verbs", rule.verbs), ("apiGroups", rule.api_groups), ("resources", rule.resources),
              ("resourceNames", rule.resource_names), ("nonResourceURLs", rule.non_resource_urls))
    return {key: list(values) for key, values in fields if values}


def _role_object(role: Role) -> dict:
    meta: dict[str, Any] = {"name": role.name}
    if role.namespace:
        meta["namespace"] = role.namespace
    if role.labels:
        meta["labels"] = dict(role.labels)
    obj: dict[str, Any] = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": role.kind, "metadata": meta}
    if role.aggregation is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": dict(s.match_labels)} | ({"matchExpressions": [
                {"key": e.key, "operator": e.operator, "values": list(e.values)} for e in s.match_expressions]}
                if s.match_expressions else {}) for s in role.aggregation]}
    obj["rules"] = [_rule_object(rule) for rule in role.rules]
    return obj


def _binding_object(binding: Binding) -> dict:
    meta: dict[str, Any] = {"name": binding.name}
    if binding.namespace:
        meta["namespace"] = binding.namespace
    subjects = []
    for s in binding.subjects:
        subject = {"kind": s.kind, "name": s.name}
        subject |= {"namespace": s.namespace} if s.namespace else {}
        subject |= {"apiGroup": RBAC_GROUP} if s.kind != "ServiceAccount" else {}
        subjects.append(subject)
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": binding.kind, "metadata": meta,
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": binding.role_ref.kind, "name": binding.role_ref.name},
            "subjects": subjects}


def policy_to_yaml(policy: Policy) -> str:
    """The policy as one ``kind: List`` document, the way ``kubectl get -o yaml`` writes it;
    ``policy_from_text`` reads it back to an equal policy."""
    items = [_role_object(r) for r in policy.roles] + [_binding_object(b) for b in policy.bindings]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False)
