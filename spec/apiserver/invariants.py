"""The API server's invariants: what every request, write, read and watch must keep, as predicates
over an ``ApiView`` (spec/apiserver/observations.py).

Each predicate returns one line per violation, naming the request (client, request id, audit
id), the object's key and the revisions involved. The label and field selector matcher, the
replay of the store's changes and the admission order are here as data and small functions; RBAC
is judged by the independent oracle in spec/apiserver/rbac_oracle.py.

Sources: Kubernetes documentation, "Kubernetes API Concepts" (resource versions, semantics for get
and list, watch, bookmarks), "API conventions" (concurrency control), "Admission Controllers
Reference", "Dynamic Admission Control" (reinvocation), "Resource Quotas", "Namespaces",
"Using RBAC Authorization" (privilege escalation prevention), "User impersonation", "Managing
Service Accounts"; kube-apiserver ``AllOrderedPlugins`` (pkg/kubeapiserver/options/plugins.go).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from spec.apiserver import rbac_oracle
from spec.apiserver.observations import ApiView, AuditRecord, Call, Change, Identity, WatchStream
from spec.apiserver.rbac_oracle import RBAC_KINDS, AccessRequest, policy_at
from spec.invariant import Invariant
from spec.rbac.identity import (
    AUTHENTICATED, SERVICE_ACCOUNTS, UNAUTHENTICATED, expected_identity, impersonation_checks,
)

__all__ = ["INVARIANTS", "ADMISSION_ORDER", "ADMISSION_VALID", "QUOTA_NEVER_EXCEEDED", "NAMESPACE_TERMINATING",
           "NO_LOST_UPDATE", "API_WATCH", "API_READ_CONSISTENT", "AUTHZ_SOUND", "API_NO_ESCALATION",
           "TOKEN_REVOCATION", "HEAD_STEPS", "MUTATING_PLUGINS", "VALIDATING_PLUGINS", "expected_attempt",
           "parse_label_selector", "parse_field_selector", "Selection", "replay", "MASTERS"]

AREA = "apiserver"
MASTERS = "system:masters"
WRITE_OPERATIONS = ("CREATE", "UPDATE", "DELETE")
SUCCESS_STEP_OUTCOMES = ("ok", "changed", "skipped")
MESSAGES_PER_ITEM_MAX = 5  # per stream, list or record: enough to follow, not a flood
STORAGE_NAMES = {"nodes": "minions"}  # plural -> storage resource, where they differ

# ----- the admission order, as data -------------------------------------------------------------
# kube-apiserver's AllOrderedPlugins (pkg/kubeapiserver/options/plugins.go) restricted to the
# default plugins the reference runs; the REST handlers (k8s.io/apiserver pkg/endpoints/handlers
# create.go, update.go, delete.go) run them as: mutating admission -> the RBAC registry's escalation
# check (pkg/registry/rbac/*/policybased) -> object validation (BeforeCreate/BeforeUpdate) ->
# validating admission -> persist. Authentication, impersonation and authorization are filters
# that run once, before the handler; a GuaranteedUpdate conflict starts the handler's part over.
HEAD_STEPS = ("authentication", "impersonation", "authorization")
MUTATING_PLUGINS = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultTolerationSeconds",
                    "DefaultStorageClass", "MutatingAdmissionWebhook")
# NamespaceLifecycle admits only (kube's lifecycle plugin implements Admit, so it refuses before any
# webhook is called); LimitRanger and ServiceAccount both admit and validate.
VALIDATING_PLUGINS = ("LimitRanger", "ServiceAccount", "PodSecurity", "ValidatingAdmissionWebhook", "ResourceQuota")
RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
# Details inside a plugin's step (one webhook's call; a quota charge that lost a race and is read
# again): recorded for the learner, not part of the order.
DETAIL_STEP_PREFIXES = ("webhook:", "quota:")


def expected_attempt(operation: str, resource: str) -> tuple[tuple[str, bool], ...]:
    """The steps of one attempt in order, each (name, optional). The ``reinvoke:`` steps of
    webhook reinvocation are optional and sit between the mutating webhook and validation."""
    validating = tuple((f"validating:{p}", False) for p in VALIDATING_PLUGINS) + (("persist", False),)
    mutating = tuple((f"mutating:{p}", False) for p in MUTATING_PLUGINS)
    if operation == "DELETE":  # delete.go admits a DELETE through both phases; no validation of an object
        return mutating + validating
    reinvoked = tuple((f"reinvoke:{p}", True) for p in MUTATING_PLUGINS)
    escalation = (("escalation", False),) if resource in RBAC_RESOURCES else ()
    return mutating + reinvoked + escalation + (("validation", False),) + validating


# ----- small helpers ----------------------------------------------------------------------------

def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _rv(obj: Any) -> int:
    text = str(_meta(obj).get("resourceVersion") or "")
    return int(text) if text.isdigit() else 0


def _storage(plural: str) -> str:
    return STORAGE_NAMES.get(plural, plural)


def _who(record: AuditRecord) -> str:
    return f"audit {record.audit_id} (client {record.client} request {record.request_id})"


def _target(record: AuditRecord) -> str:
    where = f"{record.namespace}/" if record.namespace else ""
    sub = f"/{record.subresource}" if record.subresource else ""
    return f"{record.resource}{sub} {where}{record.name}".rstrip()


def _call(call: Call) -> str:
    target = f"{call.namespace}/{call.name}" if call.namespace and call.name else call.namespace or call.name
    return f"{call.client} request {call.request_id} ({call.verb} {call.resource}{' ' + target if target else ''})"


def _object_key(obj: Any) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name", ""))


def _created_name(call: Call) -> str:
    return call.name or str(_meta(call.body).get("name", ""))


def replay(changes: Iterable[Change]) -> Iterable[tuple[Change, dict | None]]:
    """Each change with the object its key held just before it (the replayed state)."""
    current: dict[str, dict | None] = {}
    for change in changes:
        yield change, current.get(change.key)
        current[change.key] = change.object


def _state_at(changes: Iterable[Change], revision: int, resource: str, namespace: str) -> dict[str, dict]:
    """key -> object alive at ``revision`` among the storage ``resource``'s in ``namespace`` ("" all)."""
    alive: dict[str, dict] = {}
    for change in changes:
        if change.revision > revision:
            break
        if change.resource != resource or (namespace and change.namespace != namespace):
            continue
        if change.object is None:
            alive.pop(change.key, None)
        else:
            alive[change.key] = change.object
    return alive


# ----- ADMISSION-ORDER --------------------------------------------------------------------------

def _head_problem(head: list, impersonating: bool) -> str:
    expected = ["authentication"] + (["impersonation"] if impersonating else []) + ["authorization"]
    names = [step.name for step in head]
    if names != expected[:len(names)]:
        return f"filters ran as {', '.join(names)}; expected {', '.join(expected)} in that order, once"
    return ""


def _attempt_problems(steps: list, expected: tuple[tuple[str, bool], ...]) -> list[str]:
    """The steps of one attempt against the expected order: a prefix of it (optional steps may be
    left out); one that reached persist ran every required step before it, each successfully."""
    position, previous = 0, "the filters"
    for index, step in enumerate(steps):
        while position < len(expected) and expected[position][0] != step.name and expected[position][1]:
            position += 1
        if position == len(expected) or expected[position][0] != step.name:
            wanted = expected[position][0] if position < len(expected) else "nothing (persist is last)"
            return [f"step {step.name} ran after {previous}, where {wanted} was expected"]
        if step.name == "persist":
            failed = [f"{s.name}({s.outcome})" for s in steps[:index] if s.outcome not in SUCCESS_STEP_OUTCOMES]
            if failed:
                return [f"persisted after {', '.join(failed)}"]
        position, previous = position + 1, step.name
    return []


def _split_attempts(steps: list, verb: str) -> list[list]:
    attempts: list[list] = [[]]
    for step in steps:
        if step.name == "retry":
            attempts.append([])
            continue
        attempts[-1].append(step)
        if step.name == "persist" and verb == "deletecollection":
            attempts.append([])  # deletecollection admits and deletes item by item
    return [a for a in attempts if a] or [[]]


def _order_problems(record: AuditRecord) -> list[str]:
    steps = [s for s in record.steps if not s.name.startswith(DETAIL_STEP_PREFIXES)]
    count = 0
    while count < len(steps) and steps[count].name in HEAD_STEPS:
        count += 1
    head, rest = steps[:count], steps[count:]
    impersonating = any(s.name == "impersonation" for s in head)
    problem = _head_problem(head, impersonating)
    if not problem and rest and (len(head) < 2 + impersonating or any(s.outcome != "ok" for s in head)):
        problem = f"admission ran after the filters {', '.join(f'{s.name}({s.outcome})' for s in head) or 'none'}"
    problems = [problem] if problem else []
    expected = expected_attempt(record.operation, record.resource)
    for number, attempt in enumerate(_split_attempts(rest, record.verb), 1):
        problems += [f"attempt {number}: {p}" for p in _attempt_problems(attempt, expected)]
    return problems


def _refused_left_nothing(record: AuditRecord, changed_revisions: set[int]) -> list[str]:
    if record.code < 400:
        return []
    problems = []
    if any(s.name == "persist" and s.outcome == "ok" for s in record.steps):
        problems.append("has a persist step with outcome ok")
    if record.persisted_revision:
        problems.append(f"has persisted_revision {record.persisted_revision}")
        if record.persisted_revision in changed_revisions:
            problems.append(f"the store committed a change at its revision {record.persisted_revision}")
    return problems


def admission_order(view: ApiView) -> list[str]:
    changed_revisions = {change.revision for change in view.changes}
    found = []
    for record in view.audits:
        if record.operation not in WRITE_OPERATIONS:
            continue
        trail = " -> ".join(f"{s.name}({s.outcome})" for s in record.steps)
        for problem in _order_problems(record)[:MESSAGES_PER_ITEM_MAX]:
            found.append(f"{_who(record)} {record.operation} {_target(record)}: {problem}; steps: {trail}")
        for problem in _refused_left_nothing(record, changed_revisions):
            found.append(f"{_who(record)} {record.operation} {_target(record)} was refused with {record.code} "
                         f"but {problem}")
    return found


# ----- ADMISSION-VALID --------------------------------------------------------------------------

def admission_valid(view: ApiView) -> list[str]:
    return [f"object {key} persisted at revision {revision}: {problem}"
            for revision, key, problem in view.admission_problems]


# ----- QUOTA-NEVER-EXCEEDED ---------------------------------------------------------------------

# quota resource name -> the plural it counts; count/<resource>[.<group>] is added on the fly
QUOTA_OBJECT_COUNTS = {"pods": "pods", "services": "services", "secrets": "secrets", "configmaps": "configmaps",
                       "persistentvolumeclaims": "persistentvolumeclaims", "resourcequotas": "resourcequotas",
                       "replicationcontrollers": "replicationcontrollers"}
TERMINAL_POD_PHASES = ("Succeeded", "Failed")
_QUANTITY = re.compile(r"^([0-9]+)(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIXES = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def _count_limit(value: Any) -> int | None:
    match = _QUANTITY.match(str(value).strip())
    return int(match.group(1)) * _SUFFIXES[match.group(2)] if match else None


def _counted_resource(quota_resource: str) -> str | None:
    """The storage resource an object-count quota resource counts, or None (compute resources)."""
    if quota_resource in QUOTA_OBJECT_COUNTS:
        return QUOTA_OBJECT_COUNTS[quota_resource]
    if quota_resource.startswith("count/"):
        return _storage(quota_resource[len("count/"):].split(".", 1)[0])
    return None


def _counts(quota_resource: str, obj: Mapping[str, Any]) -> bool:
    # "pods" counts the pods that have not reached a terminal phase; count/pods counts them all
    return quota_resource != "pods" or (obj.get("status") or {}).get("phase") not in TERMINAL_POD_PHASES


def _quota_problems(change: Change, quota: dict, alive: dict[str, Change]) -> list[str]:
    spec_hard = (quota.get("spec") or {}).get("hard") or {}
    status_hard = (quota.get("status") or {}).get("hard") or {}
    problems = []
    for quota_resource in sorted(spec_hard):
        resource = _counted_resource(quota_resource)
        if resource != change.resource or not _counts(quota_resource, change.object):
            continue
        limit = _count_limit(status_hard.get(quota_resource, spec_hard[quota_resource]))
        used = sum(1 for c in alive.values() if c.resource == resource and c.namespace == change.namespace
                   and _counts(quota_resource, c.object))
        if limit is not None and used > limit:
            problems.append(f"creating {change.key} at revision {change.revision} brought {quota_resource} in "
                            f"namespace {change.namespace} to {used}, over ResourceQuota "
                            f"{_meta(quota).get('name')}'s hard limit {limit}")
    return problems


def quota_never_exceeded(view: ApiView) -> list[str]:
    alive: dict[str, Change] = {}
    found = []
    for change, before in replay(view.changes):
        quotas = [c.object for c in alive.values()
                  if c.resource == "resourcequotas" and c.namespace == change.namespace and change.namespace]
        if change.object is None:
            alive.pop(change.key, None)
        else:
            alive[change.key] = change
        if before is not None or change.object is None:
            continue
        for quota in quotas:
            if (quota.get("status") or {}).get("hard"):
                found += _quota_problems(change, quota, alive)
    return found


# ----- NAMESPACE-TERMINATING --------------------------------------------------------------------

def _subresource(call: Call) -> str:
    """The subresource a call's path names (/api/v1/namespaces/NS/RESOURCE/NAME/SUB), or ""."""
    parts = [p for p in call.path.split("?")[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3 and call.resource != "namespaces":
        rest = rest[2:]
    return rest[2] if len(rest) >= 3 else ""


def namespace_terminating(view: ApiView) -> list[str]:
    deletes = [c for c in view.calls if c.verb == "delete" and c.resource == "namespaces" and c.code == 200
               and c.finished is not None]
    recreates = [c for c in view.calls if c.verb == "create" and c.resource == "namespaces" and c.code == 201
                 and c.finished is not None]
    creates = [c for c in view.calls if c.verb == "create" and c.code == 201 and c.namespace
               and c.resource != "namespaces" and not _subresource(c)]
    found = []
    for delete in deletes:
        namespace = delete.name
        for create in creates:
            if create.namespace != namespace or create.started <= delete.finished:
                continue
            # A create of N that was answered after the delete and sent before this create was
            # answered may have made the namespace this create found (a controller that watches
            # namespaces sees the new one before its creator hears back).
            answered = create.finished if create.finished is not None else create.started
            if any(_created_name(r) == namespace and r.finished >= delete.finished and r.started <= answered
                   for r in recreates):
                continue
            found.append(f"{_call(create)} created {create.resource} {namespace}/{_created_name(create)} "
                         f"(started at tick {create.started}, code 201) after {_call(delete)} was told at tick "
                         f"{delete.finished} that namespace {namespace} is being deleted, and no create of "
                         f"namespace {namespace} finished in between")
    return found


# ----- NO-LOST-UPDATE ---------------------------------------------------------------------------

def _completed_deletion(obj: Any) -> bool:
    meta = _meta(obj)
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")


def no_lost_update(view: ApiView) -> list[str]:
    writes = [c for c in view.calls if c.verb in ("update", "patch") and c.code == 200 and c.precondition > 0]
    by_target: dict[tuple[str, str, str, int], list[Call]] = defaultdict(list)
    found = []
    for call in writes:
        by_target[(call.resource, call.namespace, call.name, call.precondition)].append(call)
        returned = _rv(call.body)
        if returned <= call.precondition and not _completed_deletion(call.body):
            found.append(f"{_call(call)} succeeded with precondition resourceVersion {call.precondition} but "
                         f"returned resourceVersion {returned}, not a newer one")
    for (resource, namespace, name, precondition), calls in sorted(by_target.items()):
        for later in calls[1:]:
            found.append(f"{_call(calls[0])} and {_call(later)} both succeeded writing {resource} "
                         f"{namespace + '/' if namespace else ''}{name} from resourceVersion {precondition} "
                         f"(returned {_rv(calls[0].body)} and {_rv(later.body)}): one overwrote the other")
    return found + _delete_problems(view) + _patch_problems(view)


def _patch_problems(view: ApiView) -> list[str]:
    """A patch is applied to the object as it is when the patch is written: the labels and data
    it does not name keep the values of the committed state just before it (a retry after a
    conflict reads the object again; applying the patch to an older copy loses a write)."""
    found = []
    by_key: dict[str, list[Change]] = defaultdict(list)
    for change in view.changes:
        by_key[change.key].append(change)
    for call in view.calls:
        if call.verb != "patch" or call.code != 200 or not isinstance(call.patch, Mapping):
            continue
        key = f"/registry/{_storage(call.resource)}/{call.namespace + '/' if call.namespace else ''}{call.name}"
        history = by_key.get(key, [])
        at = next((i for i, c in enumerate(history) if c.revision == _rv(call.body) and c.object is not None), None)
        if at is None or at == 0 or history[at - 1].object is None:
            continue
        before, after = history[at - 1].object, history[at].object
        for field, named in (("labels", (_meta(call.patch).get("labels") or {})), ("data", call.patch.get("data") or {})):
            old = (_meta(before).get("labels") if field == "labels" else before.get("data")) or {}
            new = (_meta(after).get("labels") if field == "labels" else after.get("data")) or {}
            lost = sorted(k for k in old if k not in named and new.get(k) != old[k])
            if lost:
                found.append(f"{_call(call)} wrote revision {history[at].revision} from a state without "
                             f"{field} {', '.join(f'{k}={old[k]}' for k in lost)} of revision "
                             f"{history[at - 1].revision}, which it did not touch: a concurrent write was lost")
    return found


def _deleted_uid(body: Any) -> str:
    """The uid a delete answered about: a Success status's details, or the object still held."""
    if not isinstance(body, Mapping):
        return ""
    if body.get("kind") == "Status":
        details = body.get("details")
        return str(details.get("uid", "")) if isinstance(details, Mapping) else ""
    return str(_meta(body).get("uid", ""))


def _delete_problems(view: ApiView) -> list[str]:
    """A delete is guarded like an update: answered Success, the object is gone (one committed
    deletion of its key per Success), and a uid precondition deletes only the object it names."""
    found = []
    successes: dict[tuple[str, str, str], list[Call]] = defaultdict(list)
    for call in view.calls:
        if call.verb != "delete" or call.code != 200:
            continue
        if call.precondition_uid and _deleted_uid(call.body) not in ("", call.precondition_uid):
            found.append(f"{_call(call)} named uid {call.precondition_uid} in its preconditions but deleted the "
                         f"object with uid {_deleted_uid(call.body)}")
        if isinstance(call.body, Mapping) and call.body.get("kind") == "Status":
            successes[(call.resource, call.namespace, call.name)].append(call)
    deletions: dict[tuple[str, str, str], int] = defaultdict(int)
    plural = {storage: plural for plural, storage in STORAGE_NAMES.items()}
    for change in view.changes:
        if change.object is None and change.previous is not None:
            deletions[(plural.get(change.resource, change.resource), change.namespace, change.name)] += 1
    for target, calls in sorted(successes.items()):
        if len(calls) > deletions[target]:
            found.append(f"{_call(calls[-1])} was answered Success, but {target[0]} "
                         f"{target[1] + '/' if target[1] else ''}{target[2]} was deleted {deletions[target]} "
                         f"time(s) for {len(calls)} successful delete(s): a delete that did nothing said it did")
    return found


# ----- selectors --------------------------------------------------------------------------------

_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=(),]+)\s*(==|!=|=)\s*([^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]] | None:
    """``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``, joined by
    commas, as (key, operator, values) with operators = != in notin exists !exists; None when the
    text is none of these."""
    requirements = []
    if not text.strip():
        return requirements
    for part in _split_top_level(text):
        if match := _SET_REQUIREMENT.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append((match.group(1), match.group(2), values))
        elif match := _EQUALITY.match(part):
            operator = "!=" if match.group(2) == "!=" else "="
            requirements.append((match.group(1), operator, (match.group(3),)))
        elif match := _EXISTS.match(part):
            requirements.append((match.group(2), "!exists" if match.group(1) else "exists", ()))
        else:
            return None
    return requirements


def _label_matches(requirements, labels: Mapping[str, str]) -> bool:
    for key, operator, values in requirements:
        present, value = key in labels, labels.get(key)
        if operator == "=" and value != values[0]:
            return False
        if operator == "!=" and present and value == values[0]:
            return False
        if operator == "in" and not (present and value in values):
            return False
        if operator == "notin" and present and value in values:
            return False
        if operator == "exists" and not present:
            return False
        if operator == "!exists" and present:
            return False
    return True


FIELD_PATHS = ("metadata.name", "metadata.namespace")


def parse_field_selector(text: str) -> list[tuple[str, str, str]] | None:
    """``metadata.name=x`` / ``==`` / ``!=`` and the same for metadata.namespace, joined by commas;
    None for any other field (what it selects is the registry's to say)."""
    requirements = []
    for part in (p for p in text.split(",") if p.strip()):
        match = _EQUALITY.match(part)
        if not match or match.group(1) not in FIELD_PATHS:
            return None
        requirements.append((match.group(1), "!=" if match.group(2) == "!=" else "=", match.group(3)))
    return requirements


class Selection:
    """A label and field selector pair; ``judgeable`` is False when either is outside the forms
    parse_label_selector and parse_field_selector read."""

    def __init__(self, label_selector: str = "", field_selector: str = "") -> None:
        self.labels = parse_label_selector(label_selector)
        self.fields = parse_field_selector(field_selector)
        self.judgeable = self.labels is not None and self.fields is not None

    def matches(self, obj: Any) -> bool:
        if obj is None:
            return False
        meta = _meta(obj)
        for path, operator, value in self.fields or []:
            actual = str(meta.get(path.split(".", 1)[1]) or "")
            if (actual == value) != (operator == "="):
                return False
        return _label_matches(self.labels or [], meta.get("labels") or {})


# ----- API-WATCH --------------------------------------------------------------------------------

def _stream_name(stream: WatchStream) -> str:
    scope = f"in namespace {stream.namespace}" if stream.namespace else "in all namespaces"
    selectors = ", ".join(s for s in (stream.label_selector, stream.field_selector) if s)
    return (f"watch {stream.client} request {stream.request_id} on {stream.resource} {scope}"
            + (f" ({selectors})" if selectors else "") + f" from resourceVersion {stream.from_revision}")


def _order_problems_of(events) -> list[str]:
    """Events strictly increase; a bookmark does not go back and nothing after it is at or below it."""
    problems, last, last_bookmark = [], None, None
    for kind, revision, _ in events:
        if kind == "ERROR":
            continue
        if kind == "BOOKMARK":
            if last is not None and revision < last:
                problems.append(f"BOOKMARK at {revision} after resourceVersion {last}")
            last_bookmark, last = revision, max(revision, last or 0)
            continue
        if last_bookmark is not None and revision <= last_bookmark:
            problems.append(f"{kind} at {revision} after a BOOKMARK at {last_bookmark}")
        elif last is not None and revision <= last:
            problems.append(f"{kind} at {revision} after resourceVersion {last}")
        last = max(revision, last or 0)
    return problems


Replayed = dict[str, list[tuple[Change, dict | None]]]  # storage resource -> its replayed changes


def _replayed_by_resource(view: ApiView) -> Replayed:
    """``replay`` of the view's changes, once for every stream (per stream, it made the check
    quadratic), each storage resource's apart."""
    replayed: Replayed = defaultdict(list)
    for change, before in replay(view.changes):
        replayed[change.resource].append((change, before))
    return replayed


def _expected_events(replayed: Replayed, stream: WatchStream, selection: Selection, last: int) -> list[tuple]:
    expected = []
    for change, before in replayed.get(_storage(stream.resource), ()):
        if stream.namespace and change.namespace != stream.namespace:
            continue
        if not stream.from_revision < change.revision <= last:
            continue
        was, now = selection.matches(before), selection.matches(change.object)
        kind = {(False, True): "ADDED", (True, True): "MODIFIED", (True, False): "DELETED"}.get((was, now))
        if kind:
            obj = change.object if change.object is not None else before
            expected.append((change.revision, kind, _object_key(obj)))
    return expected


def _gap_problems(replayed: Replayed, stream: WatchStream, selection: Selection) -> list[str]:
    seen = [(kind, revision, obj) for kind, revision, obj in stream.events if kind != "ERROR"]
    if not seen:
        return []
    last = seen[-1][1]
    expected = _expected_events(replayed, stream, selection, last)
    received = [(revision, kind, _object_key(obj)) for kind, revision, obj in seen if kind != "BOOKMARK"]
    problems = [f"missed {kind} of {key} at revision {revision}" for revision, kind, key in expected
                if (revision, kind, key) not in received]
    problems += [f"sent {kind} of {key} at {revision}, which is not a committed change matching the watch "
                 f"(after {stream.from_revision}, up to {last})" for revision, kind, key in received
                 if (revision, kind, key) not in expected]
    return problems


def _stream_problems(replayed: Replayed, stream: WatchStream) -> list[str]:
    if stream.error_code:
        return []
    if stream.from_revision == 0:
        events = list(stream.events)
        start = next((i for i, e in enumerate(events) if e[0] != "ADDED"), len(events))
        return _order_problems_of(events[start:])
    problems = [f"{kind} at {revision}, not after the start {stream.from_revision}"
                for kind, revision, _ in stream.events
                if kind not in ("ERROR", "BOOKMARK") and revision <= stream.from_revision]
    problems += _order_problems_of(stream.events)
    selection = Selection(stream.label_selector, stream.field_selector)
    if selection.judgeable:
        problems += _gap_problems(replayed, stream, selection)
    return problems


def api_watch(view: ApiView) -> list[str]:
    replayed = _replayed_by_resource(view)
    return [f"{_stream_name(stream)}: {problem}" for stream in view.watches
            for problem in _stream_problems(replayed, stream)[:MESSAGES_PER_ITEM_MAX]]


# ----- API-READ-CONSISTENT ----------------------------------------------------------------------

def _query(call: Call, name: str) -> str | None:
    for key, value in call.query:
        if key == name:
            return value
    return None


def _deletion_revision(view: ApiView, call: Call) -> int:
    """A delete's revision: the object it returned, if still there (finalizers, or a pod's grace
    period); else the change that removed the key at or after the returned resourceVersion."""
    returned = _rv(call.body)
    meta = _meta(call.body)
    held = (meta.get("finalizers") or meta.get("deletionGracePeriodSeconds")
            or (call.resource == "namespaces" and ((call.body or {}).get("spec") or {}).get("finalizers")))
    if meta.get("deletionTimestamp") and held:
        return returned  # marked: held by finalizers (a namespace's in its spec), or a pod's grace period
    for change in view.changes:
        if (change.object is None and change.resource == _storage(call.resource)
                and change.namespace == call.namespace and change.name == call.name and change.revision >= returned):
            return change.revision
    return returned


AcknowledgedWrite = tuple[Call, str, int]  # (call, object name, revision) of one acknowledged write


def _acknowledged_writes(view: ApiView) -> dict[str, list[AcknowledgedWrite]]:
    """Each successful write that finished, by its call's resource, in call order. Made once per
    view: a read's writes are those of its resource that finished before it started (made per
    read, with a scan of the changes for each delete, the check was quadratic)."""
    writes: dict[str, list[AcknowledgedWrite]] = defaultdict(list)
    for call in view.calls:
        if call.finished is None or not _meta(call.body):
            continue
        if call.verb == "create" and call.code == 201:
            writes[call.resource].append((call, _created_name(call), _rv(call.body)))
        elif call.verb in ("update", "patch") and call.code == 200:
            writes[call.resource].append((call, call.name, _rv(call.body)))
        elif call.verb == "delete" and call.code == 200:
            writes[call.resource].append((call, call.name, _deletion_revision(view, call)))
    return writes


def _acknowledged_before(writes: dict[str, list[AcknowledgedWrite]], read: Call) -> Iterable[AcknowledgedWrite]:
    """The writes of ``read``'s resource acknowledged before it started."""
    return (write for write in writes.get(read.resource, ()) if write[0].finished < read.started)


def _get_problems(read: Call, writes: dict[str, list[AcknowledgedWrite]]) -> list[str]:
    returned = _rv(read.body)
    return [f"{_call(read)} (started at tick {read.started}) returned resourceVersion {returned}, older than "
            f"revision {revision} of {_call(write)}, acknowledged at tick {write.finished}"
            for write, name, revision in _acknowledged_before(writes, read)
            if (write.namespace, name) == (read.namespace, read.name) and revision > returned]


def _list_items_problems(view: ApiView, read: Call, revision: int) -> list[str]:
    selection = Selection(_query(read, "labelSelector") or "", _query(read, "fieldSelector") or "")
    if not selection.judgeable or _query(read, "limit") or _query(read, "continue"):
        return []
    alive = _state_at(view.changes, revision, _storage(read.resource), read.namespace)
    expected = {_object_key(obj): _rv(obj) for obj in alive.values() if selection.matches(obj)}
    items = read.body.get("items") or []
    listed = {_object_key(item): _rv(item) for item in items if isinstance(item, Mapping)}
    problems = [f"misses {key} (resourceVersion {rv})" for key, rv in sorted(expected.items()) if key not in listed]
    problems += [f"lists {key} at resourceVersion {rv}, but at revision {revision} it "
                 + (f"was at {expected[key]}" if key in expected else "was not there (or not selected)")
                 for key, rv in sorted(listed.items()) if expected.get(key) != rv]
    return [f"{_call(read)} at resourceVersion {revision}: {p}" for p in problems]


def _page_problems(view: ApiView, read: Call) -> list[str]:
    """A page after the first: read at the first page's revision, starting right after the last
    key of the page before, skipping nothing (a key that prefixes another included)."""
    token = _query(read, "continue")
    issuer = next((c for c in view.calls if isinstance(c.body, Mapping)
                   and _meta(c.body).get("continue") == token and c.finished is not None), None)
    selected = any(_query(c, name) for c in (read, issuer) if c is not None
                   for name in ("labelSelector", "fieldSelector"))
    if issuer is None or selected:
        return []  # a selected page ends at the last key read, which it may not list
    first = _rv(issuer.body)
    problems = []
    if _rv(read.body) != first:
        problems.append(f"{_call(read)} continued a list read at resourceVersion {first} but answered "
                        f"resourceVersion {_rv(read.body)}")
    previous = [_object_key(i) for i in issuer.body.get("items") or [] if isinstance(i, Mapping)]
    alive = _state_at(view.changes, first, _storage(read.resource), read.namespace)
    expected = sorted(_object_key(obj) for obj in alive.values())
    after = [key for key in expected if not previous or key > previous[-1]]
    listed = [_object_key(i) for i in read.body.get("items") or [] if isinstance(i, Mapping)]
    if listed != after[:len(listed)] or (not _meta(read.body).get("continue") and listed != after):
        problems.append(f"{_call(read)} continued after {previous[-1] if previous else 'the start'} at "
                        f"resourceVersion {first}: listed {listed}, but the keys after it then were {after}")
    return problems


def _not_older_problems(view: ApiView, read: Call) -> list[str]:
    """resourceVersion=R (not Exact): the answer is the state at some revision >= R."""
    wanted = _query(read, "resourceVersion") or ""
    if not wanted.isdigit() or int(wanted) == 0 or _query(read, "resourceVersionMatch") == "Exact":
        return []
    wanted_rv = int(wanted)
    if read.verb == "list":
        got = _rv(read.body)
        return [] if got >= wanted_rv else [f"{_call(read)} asked for resourceVersion not older than {wanted_rv} "
                                            f"and was answered at {got}"]
    key = f"/registry/{_storage(read.resource)}/{read.namespace + '/' if read.namespace else ''}{read.name}"
    last = None
    for change in view.changes:
        if change.revision > wanted_rv:
            break
        if change.key == key:
            last = change
    if last is None or last.object is None:
        return []  # absent at R: a newer state may hold anything
    returned = _rv(read.body)
    if returned < last.revision:
        return [f"{_call(read)} asked for {read.resource} {read.name} not older than resourceVersion {wanted_rv} and "
                f"got it at {returned}, but it was written at {last.revision} <= {wanted_rv}"]
    return []


def _list_problems(view: ApiView, read: Call, writes: dict[str, list[AcknowledgedWrite]]) -> list[str]:
    if _query(read, "continue"):
        return _page_problems(view, read)
    revision = _rv(read.body)
    problems = [f"{_call(read)} (started at tick {read.started}) returned resourceVersion {revision}, older than "
                f"revision {written} of {_call(write)}, acknowledged at tick {write.finished}"
                for write, _, written in _acknowledged_before(writes, read)
                if (not read.namespace or write.namespace == read.namespace) and written > revision]
    return problems + _list_items_problems(view, read, revision)


def api_read_consistent(view: ApiView) -> list[str]:
    found = []
    writes = _acknowledged_writes(view)
    for read in view.calls:
        if read.code != 200 or read.verb not in ("get", "list"):
            continue
        if not isinstance(read.body, Mapping) or not _meta(read.body):
            continue
        if _query(read, "resourceVersion"):
            found += _not_older_problems(view, read)[:MESSAGES_PER_ITEM_MAX]
            continue
        problems = _get_problems(read, writes) if read.verb == "get" else _list_problems(view, read, writes)
        found += problems[:MESSAGES_PER_ITEM_MAX]
    return found


# ----- AUTHZ-SOUND ------------------------------------------------------------------------------

def _credentials_by_request(view: ApiView) -> dict[tuple[str, int], set[str]]:
    """(client, request id) -> the names of the credentials its calls used. Made once per view:
    a scan of every call for each audit record made the check quadratic."""
    names: dict[tuple[str, int], set[str]] = defaultdict(set)
    for call in view.calls:
        names[(call.client, call.request_id)].add(call.identity)
    return names


def _identity_of(view: ApiView, credentials: set[str]) -> Identity | None:
    found = [i for i in view.identities if i.name in credentials]
    return found[0] if len(found) == 1 else None


def _authenticated(view: ApiView, credentials: set[str]) -> tuple[str, frozenset[str]] | None:
    """Who authentication should have found: from the credential of the record's call
    (spec.rbac.identity), or None when no call names one credential the view knows."""
    identity = _identity_of(view, credentials)
    if identity is None:
        return None
    name = identity.user
    if identity.kind == "serviceaccount" and name.startswith("system:serviceaccount:"):
        name = name.rsplit(":", 1)[1]
    return expected_identity(identity.kind, name, identity.namespace, tuple(identity.groups))


def _impersonated_groups(record: AuditRecord) -> tuple[str, ...]:
    """The groups the requester claimed, without those the impersonation filter adds itself."""
    added = {AUTHENTICATED, UNAUTHENTICATED, SERVICE_ACCOUNTS}
    if record.user.startswith("system:serviceaccount:"):
        added.add(f"{SERVICE_ACCOUNTS}:{record.user.split(':')[2]}")
    return tuple(g for g in record.groups if g not in added)


def _access_request(record: AuditRecord) -> AccessRequest:
    if not record.resource:
        return AccessRequest(record.verb, path=record.path, resource_request=False)
    return AccessRequest(record.verb, record.group, record.resource, record.subresource, record.name,
                         record.namespace)


def _allowed(policy, user: str, groups: Iterable[str], request: AccessRequest) -> bool:
    groups = frozenset(groups)
    return MASTERS in groups or rbac_oracle.allows(policy, user, groups, request)


def _impersonation_problems(record: AuditRecord, policy, user: str, groups: frozenset[str]) -> list[str]:
    problems = []
    checks = impersonation_checks(record.user, _impersonated_groups(record))
    for group, resource, subresource, name, namespace in checks:
        request = AccessRequest("impersonate", group, resource, subresource, name, namespace)
        if not _allowed(policy, user, groups, request):
            problems.append(f"{user} impersonated {record.user} without being allowed {request.describe()}")
    return problems


def _policies(view: ApiView) -> Callable[[int], tuple[dict, ...]]:
    """``policy_at`` for the many revisions one view's records name, the RBAC changes picked out
    once. Two revisions that see the same RBAC changes (as many at or below each) have the same
    policy: it is made once for all of them (per record, it made the check quadratic)."""
    rbac = [change for change in view.changes if change.resource in RBAC_KINDS]
    revisions = sorted(change.revision for change in rbac)
    made: dict[int, tuple[dict, ...]] = {}

    def policy(revision: int) -> tuple[dict, ...]:
        seen = bisect.bisect_right(revisions, revision)  # the RBAC changes in force at revision
        if seen not in made:
            made[seen] = policy_at(rbac, revision, view.base_policy)
        return made[seen]
    return policy


def _authz_problems(view: ApiView, record: AuditRecord, policy: tuple[dict, ...],
                   credentials: set[str]) -> list[str]:
    authenticated = _authenticated(view, credentials)
    impersonating = any(s.name == "impersonation" and s.outcome == "ok" for s in record.steps)
    problems = []
    if impersonating:
        requester = authenticated or (record.authenticated_as, frozenset({AUTHENTICATED}))
        problems += _impersonation_problems(record, policy, *requester)
        user, groups = record.user, frozenset(record.groups)
    else:
        user, groups = authenticated or (record.user, frozenset(record.groups))
    request = _access_request(record)
    if not _allowed(policy, user, groups, request):
        problems.append(f"authorization allowed {user} (groups {', '.join(sorted(groups)) or 'none'}) to "
                        f"{request.describe()}, which RBAC at policy revision {record.policy_revision} does not")
    return problems


def authz_sound(view: ApiView) -> list[str]:
    found = []
    policies = _policies(view)
    credentials = _credentials_by_request(view)
    for record in view.audits:
        if any(s.name == "authorization" and s.outcome == "ok" for s in record.steps):
            policy = policies(record.policy_revision)
            used = credentials.get((record.client, record.request_id), set())
            found += [f"{_who(record)}: {p}" for p in _authz_problems(view, record, policy, used)]
    return found


# ----- API-NO-ESCALATION ------------------------------------------------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"
# kube's ClusterRole storage: setting an aggregationRule, which can gather anything, needs all of it
FULL_AUTHORITY = ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]})
GC_FIELDS = ("ownerReferences", "finalizers", "resourceVersion", "managedFields", "generation")


def _without_gc_fields(obj: Any) -> dict:
    meta = {k: v for k, v in _meta(obj).items() if k not in GC_FIELDS}
    return {**(obj or {}), "metadata": meta}


def _unheld(policy, user: str, groups, rules: Iterable[Mapping], namespace: str) -> str:
    """The first atom of ``rules`` the writer is not allowed in ``namespace``, described; "" if none."""
    for rule in rules:
        for atom in rbac_oracle.rule_atoms(rule, namespace):
            if not _allowed(policy, user, groups, atom):
                return atom.describe()
    return ""


def _role_problem(policy, record: AuditRecord, change: Change) -> str:
    obj, namespace = change.object, change.namespace
    request = AccessRequest("escalate", RBAC_GROUP, record.resource, "", change.name, namespace)
    if _allowed(policy, record.user, record.groups, request):
        return ""
    if change.previous is not None and _without_gc_fields(change.previous) == _without_gc_fields(obj):
        return ""  # only the garbage collector's fields changed, as kube lets through
    unheld = _unheld(policy, record.user, record.groups, obj.get("rules") or [], namespace)
    if unheld:
        return f"grants {unheld}, which the writer does not hold, and the writer may not escalate it"
    changed_aggregation = obj.get("aggregationRule") != ((change.previous or {}).get("aggregationRule"))
    if obj.get("aggregationRule") is not None and changed_aggregation:
        if _unheld(policy, record.user, record.groups, FULL_AUTHORITY, ""):
            return "sets an aggregationRule without the writer holding every permission (cluster-admin)"
    return ""


def _binding_problem(policy, record: AuditRecord, change: Change) -> str:
    ref = change.object.get("roleRef") or {}
    ref_resource = "roles" if ref.get("kind") == "Role" else "clusterroles"
    request = AccessRequest("bind", RBAC_GROUP, ref_resource, "", ref.get("name", ""), change.namespace)
    if _allowed(policy, record.user, record.groups, request):
        return ""
    ref_namespace = change.namespace if ref.get("kind") == "Role" else ""
    rules = rbac_oracle.effective_rules(policy).get((ref.get("kind", ""), ref_namespace, ref.get("name", "")), [])
    unheld = _unheld(policy, record.user, record.groups, rules, change.namespace)
    if unheld:
        return (f"binds {ref.get('kind')} {ref.get('name')}, which grants {unheld} that the writer does not hold, "
                f"and the writer may not bind it")
    return ""


def _persisted_rbac_writes(view: ApiView) -> Iterable[tuple[AuditRecord, Change]]:
    """Each persisted RBAC write by a non-master, with its change (``previous`` from the replay)."""
    by_revision: dict[int, list[Change]] = defaultdict(list)
    for change, before in replay(view.changes):
        by_revision[change.revision].append(Change(change.revision, change.key, change.resource, change.namespace,
                                                   change.name, change.object, before))
    for record in view.audits:
        if (record.operation not in ("CREATE", "UPDATE") or record.resource not in RBAC_RESOURCES
                or record.group != RBAC_GROUP or record.subresource or not 200 <= record.code < 300
                or MASTERS in record.groups
                or not any(s.name == "persist" and s.outcome == "ok" for s in record.steps)):
            continue
        for change in by_revision.get(record.persisted_revision, []):
            if (change.resource, change.namespace) == (record.resource, record.namespace) and \
                    change.object is not None and change.name == (record.name or change.name):
                yield record, change


def api_no_escalation(view: ApiView) -> list[str]:
    found = []
    policies = _policies(view)
    for record, change in _persisted_rbac_writes(view):
        policy = policies(record.policy_revision)
        judge = _binding_problem if record.resource.endswith("bindings") else _role_problem
        problem = judge(policy, record, change)
        if problem:
            found.append(f"{_who(record)} {record.user} {record.operation} {change.key} persisted at revision "
                         f"{change.revision} (policy revision {record.policy_revision}): {problem}")
    return found


# ----- TOKEN-REVOCATION -------------------------------------------------------------------------

def _deleted_account_uid(view: ApiView, call: Call) -> str:
    """The uid of the service account a delete call removed: the returned object's, else the one
    change that deleted that key (several: undecidable without the returned object, so "")."""
    uid = str(_meta(call.body).get("uid") or "")
    if uid:
        return uid
    deletions = [c for c in view.changes if c.object is None and c.resource == "serviceaccounts"
                 and c.namespace == call.namespace and c.name == call.name]
    return str(_meta(deletions[0].previous).get("uid") or "") if len(deletions) == 1 else ""


def _expired_credentials(view: ApiView) -> list[str]:
    """Requests authenticated with a credential past its expiry (a certificate's notAfter)."""
    identities = {identity.name: identity for identity in view.identities}
    calls = {(call.client, call.request_id): call for call in view.calls}
    found = []
    for record in view.audits:
        call = calls.get((record.client, record.request_id))
        identity = identities.get(call.identity) if call is not None else None
        authenticated = any(step.name == "authentication" and step.outcome == "ok" for step in record.steps)
        if identity is None or not identity.expires or not authenticated or record.method in ("", "anonymous"):
            continue
        if record.received > identity.expires:
            found.append(f"{_who(record)} received at tick {record.received} authenticated as "
                         f"{record.authenticated_as} with the {identity.kind} credential of {identity.name}, "
                         f"which expired at tick {identity.expires}")
    return found


# A deleted pod's tokens are refused once its deletionTimestamp is this far in the past (kube's
# service-account token validator, go-jose's one-minute leeway; a tick is a second): a pod still
# in its grace period keeps authenticating.
POD_DELETION_LEEWAY_TICKS = 60


def _deleted_pod_tokens(view: ApiView) -> list[str]:
    found = []
    for delete in view.calls:
        if (delete.verb, delete.resource, delete.code) != ("delete", "pods", 200) or delete.finished is None:
            continue
        uid = _deleted_uid(delete.body)
        deadline = delete.finished + POD_DELETION_LEEWAY_TICKS
        for record in view.audits:
            if uid and record.token_pod_uid == uid and record.received > deadline and record.method == "serviceaccount":
                found.append(f"{_who(record)} received at tick {record.received} authenticated as "
                             f"{record.authenticated_as} with a token bound to pod {delete.namespace}/{delete.name} "
                             f"uid {uid}, which {_call(delete)} deleted at tick {delete.finished}, more than "
                             f"{POD_DELETION_LEEWAY_TICKS} ticks before")
    return found


def token_revocation(view: ApiView) -> list[str]:
    found = _expired_credentials(view) + _deleted_pod_tokens(view)
    for delete in view.calls:
        if (delete.verb, delete.resource, delete.code) != ("delete", "serviceaccounts", 200) or delete.finished is None:
            continue
        uid = _deleted_account_uid(view, delete)
        if not uid:
            continue
        for record in view.audits:
            if (record.method == "serviceaccount" and record.token_account_uid == uid
                    and record.received > delete.finished):
                found.append(f"{_who(record)} received at tick {record.received} authenticated as "
                             f"{record.authenticated_as} "
                             f"with a token bound to service account {delete.namespace}/{delete.name} uid {uid}, "
                             f"which {_call(delete)} deleted (acknowledged at tick {delete.finished})")
    return found


# ----- the invariants ---------------------------------------------------------------------------

_CONCEPTS = "Kubernetes documentation, \"Kubernetes API Concepts\""

ADMISSION_ORDER = Invariant(
    "ADMISSION-ORDER", AREA,
    "Every write runs the request pipeline in order: authentication, impersonation (when asked), "
    "authorization, once; then, per attempt (a GuaranteedUpdate conflict starts a new attempt at a "
    "'retry' step), the mutating plugins in kube-apiserver's order (NamespaceLifecycle, LimitRanger, "
    "ServiceAccount, DefaultTolerationSeconds, DefaultStorageClass, MutatingAdmissionWebhook; a "
    "reinvocation pass 'reinvoke:P' may follow), the escalation check for Roles, ClusterRoles and "
    "their bindings, object validation, the validating plugins (LimitRanger, ServiceAccount, "
    "PodSecurity, ValidatingAdmissionWebhook, ResourceQuota last), then persist; a "
    "DELETE runs the mutating and validating plugins (no object validation) and persist. "
    "NamespaceLifecycle only admits: it refuses before any webhook is called. An attempt may stop early (a refusal), but "
    "one that persisted ran every step before it, each ok, changed or skipped. A refused request "
    "(code >= 400) left nothing: no successful persist step, no persisted revision, no committed "
    "change at it.",
    "Kubernetes documentation, \"Admission Controllers Reference\" and \"Dynamic Admission Control\" "
    "(reinvocation); kube-apiserver AllOrderedPlugins (pkg/kubeapiserver/options/plugins.go); k8s.io/apiserver "
    "pkg/endpoints/handlers (mutating admission -> validation -> validating admission -> persist)",
    "Admission is the cluster's policy: a quota checked before a mutating plugin added a container, "
    "or an object persisted before a validating webhook said no, lets through what policy forbids; "
    "a refused request that still wrote is a write nobody was allowed to make.",
    admission_order)

ADMISSION_VALID = Invariant(
    "ADMISSION-VALID", AREA,
    "Every persisted object satisfies every validating rule in force when it was written (schema "
    "validation, PodSecurity, the validating webhooks' rules), and mutating admission is idempotent "
    "under reinvocation: each persisted object is a fixpoint of every mutating plugin and webhook. "
    "Deletion is part of an object's validity: one stored with a deletionTimestamp still has a "
    "finalizer holding it, and no write removes a deletionTimestamp.",
    "Kubernetes documentation, \"Admission Controllers Reference\", \"Dynamic Admission Control\" "
    "(reinvocation, idempotence), \"Pod Security Admission\"; API conventions, \"Finalizers\"",
    "An invalid object in the store breaks every client that reads it; a mutation that is not "
    "idempotent changes an object each time it is admitted again.",
    admission_valid)

QUOTA_NEVER_EXCEEDED = Invariant(
    "QUOTA-NEVER-EXCEEDED", AREA,
    "Replaying the store's changes: when an object is created in a namespace, every ResourceQuota "
    "there whose status.hard is set (the quota controller has seen it) still holds for the "
    "object-count resources that object is charged to: pods (pods not Succeeded or Failed), "
    "services, secrets, configmaps, persistentvolumeclaims, resourcequotas, replicationcontrollers "
    "and count/<resource>[.<group>] (all objects of that resource), counting the live objects after "
    "the change. The limit is status.hard (what admission enforces), spec.hard where status has none. "
    "Compute resources (requests.cpu, limits.memory...) and resources the created object is not "
    "charged to are left out.",
    "Kubernetes documentation, \"Resource Quotas\" (object count quota); kube's quota evaluators "
    "(pkg/quota/v1/evaluator/core)",
    "A quota is a promise to a cluster's other tenants; two creates admitted against the same stale "
    "usage overshoot it, and nothing takes the extra objects back.",
    quota_never_exceeded)

NAMESPACE_TERMINATING = Invariant(
    "NAMESPACE-TERMINATING", AREA,
    "Once a client has been told that namespace N is being deleted (a delete of N answered 200 at "
    "tick F), no create in N (of an object, not a subresource) that started after F succeeds, unless "
    "a create of namespace N succeeded that may have come first (answered at or after F, and sent "
    "before the later create was answered: one that watches namespaces sees the new N before its "
    "creator is answered). Happens-before as a user observes it: a create already in flight when the "
    "delete was acknowledged may still land, as kube's NamespaceLifecycle plugin with its live lookup "
    "allows.",
    "Kubernetes documentation, \"Namespaces\" and \"Admission Controllers Reference\" "
    "(NamespaceLifecycle); API concepts",
    "The namespace controller deletes a namespace's content once; an object created after it looked "
    "is left behind, and the namespace never finishes terminating.",
    namespace_terminating)

NO_LOST_UPDATE = Invariant(
    "NO-LOST-UPDATE", AREA,
    "Optimistic concurrency: among the successful (200) updates and patches that named a "
    "resourceVersion as precondition, no two share resource, namespace, name and precondition; and "
    "each returns a resourceVersion greater than its precondition (except an update that completed "
    "a deletion, whose last state it returns). A patch without precondition is applied to the object "
    "as committed just before it: the labels and data it does not name keep their values. Deletes are "
    "guarded the same way: a delete answered "
    "Success deleted the object (the store committed one deletion of its key per such answer), and a "
    "delete whose preconditions name a uid deleted only the object with that uid.",
    "Kubernetes API conventions, \"Concurrency Control and Consistency\"; API concepts, resource "
    "versions",
    "Two writers that both read revision R and both succeed lose one write without anyone being told: "
    "a controller's status update erases another's.",
    no_lost_update)

API_WATCH = Invariant(
    "API-WATCH", AREA,
    "A watch from resourceVersion R > 0 delivers events after R in strictly increasing "
    "resourceVersion; a BOOKMARK does not go back and no event at or below it follows it. Without "
    "gaps: replaying the store's changes of the watched resource in its namespace, every change in "
    "(R, last delivered resourceVersion] that moves an object into the selection (ADDED), within it "
    "(MODIFIED) or out of it or away (DELETED) is delivered with that type and resourceVersion, and "
    "nothing else is. Selectors read: a=b, a==b, a!=b, a, !a, a in (...), a notin (...), "
    "metadata.name and metadata.namespace; a watch with another field selector is judged for order "
    "only. A watch from 0 or unset is judged for order after its initial ADDED events.",
    _CONCEPTS + ", \"Efficient detection of changes\" and \"Watch bookmarks\"",
    "Informers build every controller's cache from watches: a missed DELETED keeps a ghost object, "
    "an event out of order puts an old state back.",
    api_watch)

API_READ_CONSISTENT = Invariant(
    "API-READ-CONSISTENT", AREA,
    "A successful get or list with resourceVersion unset reads the most recent state: a get returns "
    "the object at a resourceVersion at or after every write to it (create 201, update or patch 200, "
    "delete 200) acknowledged before the get started; a list's resourceVersion is at or after every "
    "such write in its resource and namespace, and its items are exactly the objects alive at that "
    "revision there, filtered by its selectors (a list with limit, or an unreadable selector: only "
    "the revision is judged). A page read with a continue token is read at the first page's "
    "resourceVersion and lists the keys right after the previous page's last one, skipping none. A "
    "get or list with resourceVersion R (not Exact) answers a state at or after R.",
    _CONCEPTS + ", \"Semantics for get and list\" (resourceVersion unset: most recent; NotOlderThan) "
    "and \"Retrieving large results sets in chunks\"",
    "A controller that reads an older state than it already wrote acts twice: it creates a second "
    "pod for a replica it already made.",
    api_read_consistent)

AUTHZ_SOUND = Invariant(
    "AUTHZ-SOUND", AREA,
    "Every request that authorization let through is allowed by RBAC (an independent oracle) over the "
    "policy in force at its policy revision (the bootstrap policy plus the RBAC objects in the store), "
    "for the identity its credential must authenticate as (every authenticated user in "
    "system:authenticated; a service account in system:serviceaccounts and its namespace's group; "
    "anonymous only in system:unauthenticated), or is made by a member of system:masters. An "
    "impersonating request is judged as the user it acted as, and the requester must hold impersonate "
    "on that user (or service account, in its namespace) and on every group it claimed (the groups the "
    "filter adds itself are not asked for).",
    "Kubernetes documentation, \"Authenticating\", \"Using RBAC Authorization\", \"User impersonation\"",
    "An authorizer that says yes too often is a hole in every tenant's isolation; one fed the wrong "
    "groups grants a stranger what system:authenticated may do.",
    authz_sound)

API_NO_ESCALATION = Invariant(
    "API-NO-ESCALATION", AREA,
    "A Role or ClusterRole that a user outside system:masters created or updated grants only what "
    "the writer held where it lives (each verb, group, resource, name or URL of each rule, at the "
    "request's policy revision), unless the writer may escalate it (an update changing only the "
    "garbage collector's fields is exempt; setting an aggregationRule needs every permission); a "
    "RoleBinding or ClusterRoleBinding is written only by one who holds every rule of the role it "
    "refers to, in the binding's namespace, or may bind that role.",
    "Kubernetes documentation, \"Using RBAC Authorization\", \"Privilege escalation prevention and "
    "bootstrapping\"",
    "Without it, anyone allowed to write roles or bindings can grant themselves cluster-admin.",
    api_no_escalation)

TOKEN_REVOCATION = Invariant(
    "TOKEN-REVOCATION", AREA,
    "A credential stops working when it is revoked or expires: no request authenticated with a "
    "token bound to service account uid U was received after a delete of that account (answered "
    "200) was acknowledged (a new account with the same name has a new uid, so the old token stays "
    "dead); a token bound to a pod stops working at most 60 ticks after the pod's deletion was "
    "acknowledged (kube's one-minute leeway lets a pod in its grace period finish); and no request "
    "was authenticated with a credential received after its expiry (a client certificate past its "
    "notAfter).",
    "Kubernetes documentation, \"Managing Service Accounts\" (bound service account tokens) and "
    "\"Authenticating\" (X509 client certificates)",
    "A deleted account's token that still works is a credential nobody can revoke.",
    token_revocation)

INVARIANTS: tuple[Invariant, ...] = (
    ADMISSION_ORDER, ADMISSION_VALID, QUOTA_NEVER_EXCEEDED, NAMESPACE_TERMINATING, NO_LOST_UPDATE, API_WATCH,
    API_READ_CONSISTENT, AUTHZ_SOUND, API_NO_ESCALATION, TOKEN_REVOCATION,
)
