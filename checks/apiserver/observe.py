"""What the apiserver checks observe, and the check itself.

- The store's committed changes, read from the members' applied entries in log order (each
  entry once), decoded into objects: the history every invariant replays.
- For each object a committed change writes, the problems the reference's own rules find with
  it at that moment (ADMISSION-VALID): schema validation, PodSecurity of its namespace, the
  webhooks configured then (their rules as the webhook services apply them), and whether it is
  a fixpoint of the mutating webhooks and of DefaultTolerationSeconds.
- The audit events, the clients' calls and watch streams, turned into spec's plain records.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
from typing import Any

import attrs
import yaml

from checks.apiserver.seed import IDENTITIES, WEBHOOK_BEHAVIOURS
from impl.apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from impl.apiserver.admission.pod_security import evaluate
from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.authz.types import UserInfo
from impl.apiserver.messages import ApiRequest
from impl.apiserver.requestinfo import request_info
from impl.apiserver.resources import RESOURCES
from impl.apiserver.status import ApiError
from impl.apiserver.validation import validate_create, validate_update
from impl.apiserver.webhook_service import denies, patched_object
from impl.etcd.registry import InvalidKey, parse_key
from spec.apiserver import INVARIANTS
from spec.apiserver.observations import ApiView, AuditRecord, Call, Change, Step, WatchStream

__all__ = ["Observer", "base_policy"]

_BY_STORAGE = {r.storage_resource: r for r in RESOURCES}
# Judged per audit record, each record once (see Observer.check).
PER_AUDIT_RECORD = frozenset({"ADMISSION-ORDER", "AUTHZ-SOUND", "API-NO-ESCALATION", "TOKEN-REVOCATION"})
_OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE",
               "deletecollection": "DELETE"}


@functools.lru_cache(maxsize=1)
def base_policy() -> tuple[dict[str, Any], ...]:
    """The bootstrap RBAC objects every instance reads beside the stored ones."""
    folder = importlib.resources.files("impl.apiserver.authz") / "bootstrap-policy"
    objects = []
    for name in sorted(e.name for e in folder.iterdir() if e.name.endswith(".yaml")):
        for doc in yaml.safe_load_all((folder / name).read_text()):
            if isinstance(doc, dict):
                objects.extend(doc.get("items") or [doc] if doc.get("kind", "").endswith("List") else [doc])
    return tuple(objects)


def _is_binding(previous: dict[str, Any], pod: dict[str, Any]) -> bool:
    """The change a pods/binding makes: spec.nodeName set where there was none."""
    return not (previous.get("spec") or {}).get("nodeName") and bool((pod.get("spec") or {}).get("nodeName"))


def _with_node(previous: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    bound = copy.deepcopy(previous)
    bound.setdefault("spec", {})["nodeName"] = pod["spec"]["nodeName"]
    return bound


def _deletion_problems(resource, obj: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """Finalizers: an object being deleted stays only while a finalizer holds it, and nothing
    brings it back from deletion (API conventions, "Finalizers")."""
    meta, found = obj.get("metadata") or {}, []
    held = meta.get("finalizers") or (resource.kind == "Namespace" and (obj.get("spec") or {}).get("finalizers")) \
        or (resource.kind == "Pod" and meta.get("deletionGracePeriodSeconds"))  # its kubelet confirms
    if meta.get("deletionTimestamp") and not held:
        found.append("stored with a deletionTimestamp and no finalizer left: it should be gone")
    if previous is not None and (previous.get("metadata") or {}).get("deletionTimestamp") \
            and not meta.get("deletionTimestamp"):
        found.append("its deletionTimestamp was removed: an object being deleted came back")
    return found


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


class Observer:
    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.changes: list[Change] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.problems: list[tuple[int, str, str]] = []
        self.compacted = 0
        self._seen: dict[str, tuple[Any, int]] = {}
        self._indexes: set[int] = set()
        self._audits_judged = 0
        self._checked_state: tuple = ()

    # ----- the store's history ------------------------------------------------------------

    def revision(self) -> int:
        return self.changes[-1].revision if self.changes else 1

    def store_changed(self) -> None:
        world = self.cluster.world
        for member_id in self.cluster.member_ids:
            member = world.nodes[member_id]
            if member is None:
                continue
            applied = member.applied_changes
            owner, read = self._seen.get(member_id, (None, 0))
            if owner is applied and read == len(applied):
                continue
            if owner is not applied:
                read = 0
            for change in applied[read:]:
                if change.index not in self._indexes:
                    self._indexes.add(change.index)
                    for event in change.events:
                        self._record(event)
            self._seen[member_id] = (applied, len(applied))

    def _record(self, event) -> None:
        key = event.kv.key.decode(errors="replace")
        try:
            storage, namespace, name = parse_key(event.kv.key)
        except InvalidKey:
            return
        previous = self.objects.get(key)
        if event.type == "PUT":
            obj = json.loads(event.kv.value)
            obj["metadata"]["resourceVersion"] = str(event.kv.mod_revision)
            self._judge(event.kv.mod_revision, key, storage, obj, previous)
            self.objects[key] = obj
        else:
            obj = None
            self.objects.pop(key, None)
        self.changes.append(Change(event.kv.mod_revision, key, storage, namespace or "", name, obj, previous))

    # ----- ADMISSION-VALID ----------------------------------------------------------------

    def _judge(self, revision: int, key: str, storage: str, obj: dict[str, Any], previous: dict | None) -> None:
        resource = _BY_STORAGE.get(storage)
        if resource is None or revision <= self.cluster.seed_revision or not self.cluster.seed_revision:
            return
        if previous is not None and resource.kind == "Pod" and _is_binding(previous, obj):
            previous = _with_node(previous, obj)  # pods/binding sets what no update may change
        causes = validate_update(resource, obj, previous) if previous is not None else validate_create(resource, obj)
        found = [f"{field}: {why}" for field, why in causes] + _deletion_problems(resource, obj, previous)
        if resource.kind == "Pod":
            found += self._pod_problems(obj, previous)
        found += self._webhook_problems(resource, obj, previous)
        self.problems.extend((revision, key, problem) for problem in found)

    def _pod_problems(self, pod: dict[str, Any], previous: dict | None) -> list[str]:
        if previous is not None:
            return []
        namespace = self.objects.get(f"/registry/namespaces/{pod['metadata'].get('namespace', '')}")
        level = _labels(namespace).get("pod-security.kubernetes.io/enforce", "privileged")
        found = [f"violates PodSecurity {level}: {reason}" for reason, _ in
                 evaluate(level, pod.get("metadata") or {}, pod.get("spec") or {})]
        tolerated = copy.deepcopy(pod)
        attributes = AdmissionAttributes("CREATE", _BY_STORAGE["pods"], "", pod["metadata"].get("namespace", ""),
                                         pod["metadata"]["name"], UserInfo("checker"), tolerated)
        DefaultTolerationSeconds().admit(attributes, None)
        if attributes.object != pod:
            found.append("not a fixpoint of DefaultTolerationSeconds: admitting it again changes it")
        return found

    def _webhooks_in_force(self, mutating: bool) -> list[str]:
        kind = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
        hooks = []
        for key, config in sorted(self.objects.items()):
            if key.startswith(f"/registry/{kind}/"):
                hooks.extend(h.get("name", "") for h in config.get("webhooks") or [])
        return [WEBHOOK_BEHAVIOURS[h] for h in hooks if h in WEBHOOK_BEHAVIOURS]

    def _webhook_problems(self, resource, obj: dict[str, Any], previous: dict | None) -> list[str]:
        if resource.plural not in ("pods", "configmaps") or resource.group:
            return []
        found = []
        if obj.get("metadata", {}).get("deletionTimestamp") is None:
            for behaviour in self._webhooks_in_force(False):
                why = denies(behaviour, obj)
                if why is not None:
                    found.append(f"the validating webhook {behaviour} refuses it: {why}")
        for behaviour in self._webhooks_in_force(True):
            if patched_object(behaviour, obj) != obj:
                found.append(f"not a fixpoint of the mutating webhook {behaviour}: calling it again changes it")
        return found

    # ----- the view -----------------------------------------------------------------------

    def view(self) -> ApiView:
        return ApiView(tuple(self._audit(e) for e in self.cluster.audit_log.events), tuple(self.changes),
                       tuple(self._call(c) for c in self.cluster.api_log.calls),
                       tuple(self._stream(s) for s in self.cluster.api_log.streams), IDENTITIES,
                       tuple(self.problems), base_policy())

    @staticmethod
    def _audit(event) -> AuditRecord:
        return AuditRecord(event.audit_id, event.instance, event.client, event.verb,
                           _OPERATIONS.get(event.verb, ""), event.resource, event.group, event.subresource,
                           event.namespace, event.name, event.request_uri, event.user, tuple(event.groups),
                           event.authenticated_as, event.authentication_method, event.token_account_uid,
                           tuple(Step(s.name, s.outcome) for s in event.steps), event.code, event.received,
                           event.completed if event.completed is not None else event.received,
                           event.persisted_revision, event.policy_revision, event.request_id, event.token_pod_uid)

    @staticmethod
    def _parsed(request: ApiRequest):
        try:
            return request_info(request)
        except ApiError:
            return None

    def _call(self, record) -> Call:
        request = record.request
        info = self._parsed(request)
        response = record.response
        return Call(record.client, request.request_id, record.instance, request.method, request.path, request.query,
                    info.verb if info else "", info.plural if info else "", info.namespace if info else "",
                    info.name if info else "", _precondition(request), record.started, record.finished,
                    response.code if response else 0, response.body if response else None, record.identity,
                    _precondition_uid(request), _patch_body(request))

    def _stream(self, record) -> WatchStream:
        request = record.request
        info = self._parsed(request)
        return WatchStream(record.client, request.request_id, record.instance, info.plural if info else "",
                           info.group if info else "", info.namespace if info else "",
                           request.query_value("labelSelector") or "", request.query_value("fieldSelector") or "",
                           record.from_revision, tuple(record.events), record.closed,
                           record.error.code if record.error is not None else 0)

    def check(self):
        """The first invariant that breaks, as (invariant, message); None when all hold.

        An audit record's verdict is final when it is recorded (it is judged against the policy
        and the history up to revisions already committed), so the invariants over audit records
        see each record once; the others see everything (they pair calls and follow streams)."""
        state = (len(self.changes), len(self.cluster.audit_log.events), len(self.cluster.api_log.calls),
                 sum(len(s.events) for s in self.cluster.api_log.streams), len(self.problems))
        if state == self._checked_state:
            return None  # nothing new to judge
        self._checked_state = state
        view = self.view()
        fresh = attrs.evolve(view, audits=view.audits[self._audits_judged:])
        for invariant in INVARIANTS:
            problems = invariant.predicate(fresh if invariant.id in PER_AUDIT_RECORD else view)
            if problems:
                return invariant, problems[0]
        self._audits_judged = len(view.audits)
        return None


def _patch_body(request: ApiRequest) -> Any:
    if request.method != "PATCH":
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None


def _precondition_uid(request: ApiRequest) -> str:
    if request.method != "DELETE" or not request.body:
        return ""
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return ""
    preconditions = body.get("preconditions") if isinstance(body, dict) else None
    return str(preconditions.get("uid") or "") if isinstance(preconditions, dict) else ""


def _precondition(request: ApiRequest) -> int:
    if request.method not in ("PUT", "PATCH") or not request.body:
        return 0
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return 0
    meta = body.get("metadata") if isinstance(body, dict) else None
    text = str(meta.get("resourceVersion") or "") if isinstance(meta, dict) else ""
    return int(text) if text.isdigit() else 0
