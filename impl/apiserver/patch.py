"""The three patch formats of a PATCH request, applied to plain JSON objects; inputs are never mutated.

Sources: RFC 7386 (JSON merge patch), RFC 6902 and RFC 6901 (JSON patch, JSON pointer),
k8s.io/apimachinery ``pkg/util/strategicpatch`` and the API conventions, "Strategic Merge Patch",
and kube-apiserver's ``endpoints/handlers/patch.go`` for how each failure is answered:

- a body that is not UTF-8 or not JSON, a JSON patch that is not a list of operation objects, a
  malformed strategic directive: 400 BadRequest;
- a JSON patch operation that cannot be applied (a failed ``test``, a missing path): 422 Invalid with
  Kubernetes' generic "the server rejected our request due to an error in our request" (its body has
  no details either); the reason is kept as the exception's ``__cause__`` (PatchOperationFailed);
- more than JSON_PATCH_OPERATIONS_MAX operations: 413; another content type: 415.

Strategic merge patch, "strategic enough" for the served kinds: SCHEMAS lists the fields whose
lists merge (patchStrategy ``merge`` with their patchMergeKey, from the Go types' struct tags):
containers/initContainers/ephemeralContainers/volumes/imagePullSecrets/schedulingGates by ``name``,
container ``env`` by ``name``, ``ports`` by ``containerPort``, ``volumeMounts`` by ``mountPath``,
``volumeDevices`` by ``devicePath``, service ``spec.ports`` by ``port``, ``ownerReferences`` by ``uid``,
status ``conditions`` by ``type``, node ``addresses`` by ``type``, pod ``podIPs`` by ``ip``, webhook
configurations' ``webhooks`` by ``name``, and ``metadata.finalizers`` as a merged list of strings.
Every other list (tolerations, args, command, rules, subjects, ...) is replaced, as JSON merge patch
does. Directives: ``$patch: replace|delete`` in a map or as a list element,
``$deleteFromPrimitiveList/<field>``, ``$retainKeys``; ``$setElementOrder/<field>`` is accepted and
ignored (the merged order follows Kubernetes' rule without it: patch items in patch order,
interleaved with server-only items by their live order, a new item before the server-only ones).
Choices where Kubernetes is looser: a deletion list for a field the object lacks deletes nothing
(Kubernetes would store the list itself); directives never reach the result (the typed decoder
drops them in Kubernetes); a list element without its merge key is a BadRequest.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs

from impl.apiserver.resources import RESOURCES
from impl.apiserver.status import ApiError

__all__ = [
    "PatchOperationFailed", "SCHEMAS", "KIND_SCHEMAS", "PATCH_CONTENT_TYPES", "JSON_PATCH_OPERATIONS_MAX",
    "json_merge_patch", "json_merge_diff", "strategic_merge_patch", "json_patch", "apply_patch",
]

JSON_PATCH_OPERATIONS_MAX = 10_000  # maxJSONPatchOperations in patch.go
JSON_DEPTH_MAX = 1_000  # patches recurse once per level of nesting; deeper documents are refused
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
_REJECTED = "the server rejected our request due to an error in our request"


class PatchOperationFailed(ValueError):
    """Why a JSON patch operation could not be applied (the 422's ``__cause__``)."""


def _bad_request(message: str) -> ApiError:
    return ApiError("BadRequest", message)


def _check_depth(depth: int) -> None:
    if depth > JSON_DEPTH_MAX:
        raise _bad_request(f"patch nests deeper than {JSON_DEPTH_MAX} levels")


# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch.

def json_merge_patch(original: Any, patch: Any) -> Any:
    """MergePatch(Target, Patch) of RFC 7386 section 2: objects merge, null deletes, all else replaces."""
    return _merge_patch(copy.deepcopy(original), patch, 0)


def _merge_patch(target: Any, patch: Any, depth: int) -> Any:
    _check_depth(depth)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value, depth + 1)
    return target


def json_merge_diff(original: Any, modified: Any) -> Any:
    """A merge patch taking ``original`` to ``modified`` (modified must hold no nulls inside objects,
    which merge patch cannot express)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif original[key] != value or type(original[key]) is not type(value):
            patch[key] = json_merge_diff(original[key], value)
    return patch


# ---------------------------------------------------------------------------------------------
# Strategic merge patch.

@attrs.frozen
class Field:
    """Patch metadata of one field: the schema of its value (or of its list's elements), and for a
    list whether it merges (``merge_key`` "" for a list of strings) or is replaced."""

    schema: str = ""
    merges: bool = False
    merge_key: str = ""


def _merged_by(key: str, schema: str = "") -> Field:
    return Field(schema, True, key)


_CONDITIONS = {"conditions": _merged_by("type")}
_POD_TEMPLATE = {"template": Field("PodTemplateSpec")}

# schema name -> field -> Field. A field not listed merges if it is a map and is replaced otherwise.
SCHEMAS: dict[str, dict[str, Field]] = {
    "ObjectMeta": {"finalizers": Field("", True, ""), "ownerReferences": _merged_by("uid")},
    "Object": {"metadata": Field("ObjectMeta")},
    "Pod": {"metadata": Field("ObjectMeta"), "spec": Field("PodSpec"), "status": Field("PodStatus")},
    "PodTemplateSpec": {"metadata": Field("ObjectMeta"), "spec": Field("PodSpec")},
    "PodSpec": {
        "containers": _merged_by("name", "Container"), "initContainers": _merged_by("name", "Container"),
        "ephemeralContainers": _merged_by("name", "Container"), "volumes": _merged_by("name"),
        "imagePullSecrets": _merged_by("name"), "schedulingGates": _merged_by("name"),
        "hostAliases": _merged_by("ip"), "topologySpreadConstraints": _merged_by("topologyKey"),
        "resourceClaims": _merged_by("name"),
    },
    "Container": {"env": _merged_by("name"), "ports": _merged_by("containerPort"),
                  "volumeMounts": _merged_by("mountPath"), "volumeDevices": _merged_by("devicePath")},
    "PodStatus": {**_CONDITIONS, "podIPs": _merged_by("ip")},
    "Workload": {"metadata": Field("ObjectMeta"), "spec": Field("WorkloadSpec"), "status": Field("Status")},
    "WorkloadSpec": _POD_TEMPLATE,
    "Status": _CONDITIONS,
    "Service": {"metadata": Field("ObjectMeta"), "spec": Field("ServiceSpec"), "status": Field("Status")},
    "ServiceSpec": {"ports": _merged_by("port")},
    "Node": {"metadata": Field("ObjectMeta"), "status": Field("NodeStatus")},
    "NodeStatus": {**_CONDITIONS, "addresses": _merged_by("type")},
    "StatusOnly": {"metadata": Field("ObjectMeta"), "status": Field("Status")},
    "WebhookConfiguration": {"metadata": Field("ObjectMeta"), "webhooks": _merged_by("name")},
}

_KIND_SCHEMA_NAMES = {
    "Pod": "Pod", "Deployment": "Workload", "ReplicaSet": "Workload", "Job": "Workload",
    "Service": "Service", "Node": "Node", "Namespace": "StatusOnly", "PersistentVolumeClaim": "StatusOnly",
    "MutatingWebhookConfiguration": "WebhookConfiguration",
    "ValidatingWebhookConfiguration": "WebhookConfiguration",
}
# kind -> schema of its top level; every served kind has one (its metadata at least).
KIND_SCHEMAS: dict[str, str] = {resource.kind: _KIND_SCHEMA_NAMES.get(resource.kind, "Object")
                                for resource in RESOURCES}

_DIRECTIVE = "$patch"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_RETAIN_KEYS = "$retainKeys"


def _field(schema: str, key: str) -> Field:
    return SCHEMAS.get(schema, {}).get(key, Field())


def strategic_merge_patch(original: dict, patch: dict, kind: str) -> dict:
    """StrategicMergeMapPatch for ``kind``; 415 for a kind without a schema (a custom resource)."""
    if kind not in KIND_SCHEMAS:
        raise ApiError("UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       f"media types include: {JSON_PATCH}, {MERGE_PATCH}")
    if not isinstance(patch, dict):
        raise _bad_request("strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), KIND_SCHEMAS[kind], 0)


def _merge_map(original: dict, patch: dict, schema: str, depth: int) -> dict:
    """Merge ``patch`` into ``original`` (both private copies, mutated here)."""
    _check_depth(depth)
    if _DIRECTIVE in patch:
        return _map_directive(patch, schema, depth)
    _apply_retain_keys(original, patch)
    for key in [key for key in patch if key.startswith(_SET_ELEMENT_ORDER)]:
        _require_list(patch.pop(key), "invalid patch format of setElementOrder list")
    for key in [key for key in patch if key.startswith(_DELETE_FROM_PRIMITIVE_LIST)]:
        _delete_from_primitive_list(original, key, patch.pop(key))
    for key, value in patch.items():
        if value is None:
            original.pop(key, None)
        else:
            original[key] = _merge_value(original.get(key), value, _field(schema, key), depth + 1)
    return original


def _merge_value(current: Any, value: Any, field: Field, depth: int) -> Any:
    if isinstance(value, dict):
        return _merge_map(current if isinstance(current, dict) else {}, value, field.schema, depth)
    if isinstance(value, list) and field.merges:
        return _merge_list(current if isinstance(current, list) else [], value, field, depth)
    return value


def _map_directive(patch: dict, schema: str, depth: int) -> dict:
    directive = patch.pop(_DIRECTIVE)
    if directive == "replace":
        return _merge_map({}, patch, schema, depth)  # the patch itself, its directives resolved
    if directive == "delete":
        return {}
    raise _bad_request(f"unknown patch type: {directive} in map")


def _require_list(value: Any, message: str) -> list:
    if not isinstance(value, list):
        raise _bad_request(message)
    return value


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retained = set(_require_list(patch.pop(_RETAIN_KEYS), "invalid patch format of retainKeys"))
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in retained:
            raise _bad_request("doesn't match retainKeys: patch content doesn't match retainKeys list")
    for key in [key for key in original if key not in retained]:
        del original[key]


def _delete_from_primitive_list(original: dict, key: str, doomed: Any) -> None:
    doomed = _require_list(doomed, "invalid patch format of primitive list")
    field_name = key[len(_DELETE_FROM_PRIMITIVE_LIST):]
    if not field_name:
        raise _bad_request("invalid patch format of primitive list")
    if isinstance(original.get(field_name), list):
        original[field_name] = [item for item in original[field_name] if item not in doomed]


def _merge_list(original: list, patch: list, field: Field, depth: int) -> list:
    _check_depth(depth)
    if any(isinstance(item, list) for item in original + patch):
        raise ApiError("Invalid", "lists of lists are not supported")
    if not field.merge_key:
        merged = original + [item for item in patch if item not in original]
        merged = [item for index, item in enumerate(merged) if item not in merged[:index]]
        return _ordered(merged, patch, original, lambda item: item)
    return _merge_list_of_maps(original, patch, field, depth)


def _merge_list_of_maps(original: list, patch: list, field: Field, depth: int) -> list:
    key = field.merge_key
    for item in original + patch:
        if not isinstance(item, dict):
            raise _bad_request(f"list {field.schema or 'element'} items must be objects merged by {key}")
    original, plain, replace = _list_directives(original, patch, key)
    if replace:
        return [_merge_map({}, item, field.schema, depth + 1) for item in plain]
    merged = list(original)
    for item in plain:
        if key not in item:
            raise _bad_request(f"map: {json.dumps(item, sort_keys=True)} does not contain declared merge key: {key}")
        index = _index_by_key(merged, key, item[key])
        if index >= 0:
            merged[index] = _merge_map(merged[index], item, field.schema, depth + 1)
        else:
            merged.append(_merge_map({}, item, field.schema, depth + 1))
    return _ordered(merged, plain, original, lambda item: item.get(key))


def _list_directives(original: list, patch: list, key: str) -> tuple[list, list, bool]:
    """mergeSliceWithSpecialElements: drop deleted elements, note a replace, keep the plain items."""
    plain, replace = [], False
    for item in patch:
        directive = item.get(_DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise _bad_request(f"map: {json.dumps(item, sort_keys=True)} does not contain declared merge key: {key}")
            original = [kept for kept in original if kept.get(key) != item[key]]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _bad_request("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_request(f"unknown patch type: {directive} in list element")
    return original, plain, replace


def _index_by_key(items: list, key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if key in item and item[key] == value:
            return index
    return -1


def _ordered(merged: list, patch: list, live: list, identity) -> list:
    """normalizeElementOrder: patch items in patch order, server-only items in live order, then
    interleaved; where either item is not in the live list, the patch item goes first."""
    patch_ids = [identity(item) for item in patch]
    live_ids = [identity(item) for item in live]
    from_patch = sorted((item for item in merged if identity(item) in patch_ids),
                        key=lambda item: patch_ids.index(identity(item)))
    server_only = [item for item in merged if identity(item) not in patch_ids]
    result = []
    while from_patch or server_only:
        if not from_patch or (server_only and _live_before(server_only[0], from_patch[0], live_ids, identity)):
            result.append(server_only.pop(0))
        else:
            result.append(from_patch.pop(0))
    return result


def _live_before(left: Any, right: Any, live_ids: list, identity) -> bool:
    left_id, right_id = identity(left), identity(right)
    if left_id not in live_ids or right_id not in live_ids:
        return False
    return live_ids.index(left_id) < live_ids.index(right_id)


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch.

def json_patch(original: Any, operations: list) -> Any:
    """Apply the operations in order, all or nothing (the input is untouched either way)."""
    _check_operations(operations)
    document = copy.deepcopy(original)
    for number, operation in enumerate(operations):
        try:
            document = _apply_operation(document, operation)
        except PatchOperationFailed as failure:
            raise ApiError("Invalid", _REJECTED) from PatchOperationFailed(f"operation {number}: {failure}")
    return document


def _check_operations(operations: Any) -> None:
    if not isinstance(operations, list) or not all(isinstance(operation, dict) for operation in operations):
        raise _bad_request("json: cannot unmarshal into a JSON patch: expected a list of operation objects")
    if len(operations) > JSON_PATCH_OPERATIONS_MAX:
        raise ApiError("RequestEntityTooLarge", f"The allowed maximum operations in a JSON patch is "
                       f"{JSON_PATCH_OPERATIONS_MAX}, got {len(operations)}")


def _apply_operation(document: Any, operation: dict) -> Any:
    kind = operation.get("op")
    path = _string_member(operation, "path")
    if kind in ("add", "replace", "test") and "value" not in operation:
        raise PatchOperationFailed(f"{kind} operation missing value")
    value = copy.deepcopy(operation.get("value"))
    if kind == "add":
        return _add(document, path, value)
    if kind == "remove":
        return _remove(document, path)[0]
    if kind == "replace":
        return _add(_remove(document, path)[0], path, value) if path else value
    if kind == "test":
        if _get(document, path) != value or not _same_types(_get(document, path), value):
            raise PatchOperationFailed(f"testing value {path} failed: test failed")
        return document
    if kind in ("move", "copy"):
        return _move_or_copy(document, kind, _string_member(operation, "from"), path)
    raise PatchOperationFailed(f"Unexpected kind: {kind}")


def _same_types(left: Any, right: Any) -> bool:
    """JSON equality: true is not 1 (Python's == says it is)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return all(_same_types(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return all(_same_types(a, b) for a, b in zip(left, right))
    return True


def _move_or_copy(document: Any, kind: str, source: str, path: str) -> Any:
    if kind == "move":
        if path != source and path.startswith(source + "/"):
            raise PatchOperationFailed(f"move operation cannot move {source} into its own child {path}")
        document, value = _remove(document, source)
    else:
        value = copy.deepcopy(_get(document, source))
    return _add(document, path, value)


def _string_member(operation: dict, member: str) -> str:
    value = operation.get(member)
    if not isinstance(value, str):
        raise PatchOperationFailed(f"operation missing {member} string")
    return value


def _tokens(path: str) -> list[str]:
    """RFC 6901: '' is the whole document; each token unescapes ~1 to / and then ~0 to ~."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchOperationFailed(f"JSON pointer must be empty or start with '/': {path}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _array_index(token: str, length: int, allow_end: bool) -> int:
    if allow_end and token == "-":
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")) or not token.isascii():
        raise PatchOperationFailed(f"invalid array index: {token}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchOperationFailed(f"array index out of bounds: {index}")
    return index


def _parent(document: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    container = document
    for token in tokens[:-1]:
        container = _child(container, token)
    return container, tokens[-1]


def _child(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise PatchOperationFailed(f"doc is missing key: {token}")
        return container[token]
    if isinstance(container, list):
        return container[_array_index(token, len(container), allow_end=False)]
    raise PatchOperationFailed(f"cannot descend into a {type(container).__name__} with {token}")


def _get(document: Any, path: str) -> Any:
    value = document
    for token in _tokens(path):
        value = _child(value, token)
    return value


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    container, last = _parent(document, path)
    if isinstance(container, dict):
        container[last] = value
    elif isinstance(container, list):
        container.insert(_array_index(last, len(container), allow_end=True), value)
    else:
        raise PatchOperationFailed(f"add operation does not apply: {path} has no container")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    if path == "":
        raise PatchOperationFailed("remove operation cannot remove the whole document")
    container, last = _parent(document, path)
    if isinstance(container, dict):
        if last not in container:
            raise PatchOperationFailed(f"remove operation does not apply: doc is missing path: {path}")
        return document, container.pop(last)
    if isinstance(container, list):
        return document, container.pop(_array_index(last, len(container), allow_end=False))
    raise PatchOperationFailed(f"remove operation does not apply: doc is missing path: {path}")


# ---------------------------------------------------------------------------------------------
# The PATCH request body.

def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise _bad_request("error decoding patch: body is not UTF-8") from None
    except (ValueError, RecursionError) as error:
        message = str(error).splitlines()[0] if str(error) else "invalid JSON"
        raise _bad_request(f"error decoding patch: {message}") from None


def apply_patch(original: dict, body: bytes, content_type: str, kind: str) -> dict:
    """A PATCH request's body applied to the live object, dispatched on its Content-Type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in PATCH_CONTENT_TYPES:
        raise ApiError("UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       f"media types include: {', '.join(PATCH_CONTENT_TYPES)}")
    patch = _decode(body)
    if media_type == JSON_PATCH:
        patched = json_patch(original, patch)
    elif media_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise _bad_request("Invalid JSON Patch: a merge patch must be a JSON object")
        patched = json_merge_patch(original, patch)
    else:
        patched = strategic_merge_patch(original, patch, kind)
    if not isinstance(patched, dict):
        raise _bad_request("the patched object is not a JSON object")
    return patched
