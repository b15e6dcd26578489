"""Object schema validation, as kube-apiserver's ``pkg/apis/*/validation`` does it, reduced to what
the served kinds need.

Sources: kubernetes/kubernetes ``pkg/apis/core/validation`` (ObjectMeta, pods, services, config maps,
secrets, volumes and claims, quotas, limit ranges), ``pkg/apis/apps/validation``,
``pkg/apis/batch/validation``, ``pkg/apis/rbac/validation``, ``pkg/apis/coordination/validation``,
``pkg/apis/storage/validation``, ``pkg/apis/admissionregistration/validation`` and
k8s.io/apimachinery ``pkg/api/validation`` (ObjectMeta, label selectors).

A cause is ``(field path, message)`` with Kubernetes' message shapes (``Required value``,
``Invalid value: "x": ...``, ``Unsupported value: ...``, ``Forbidden: ...``, ``Duplicate value: ...``);
``ensure_valid`` turns causes into one 422 Invalid. Each rule is a small function of the object
(create) or of the new and old object (update); CREATE_RULES and UPDATE_RULES dispatch per kind, so
a catalog bug can override one rule. An update runs the create rules on the new object too.

Choices where Kubernetes is more involved: a job without a selector passes (the registry generates
one before validation); a job's template is immutable even while suspended; a claim may grow its
storage request whether or not it is bound, and may set ``spec.volumeName`` once; a pod's
``activeDeadlineSeconds`` may change freely; a lease's ``leaseDurationSeconds`` must be > 0 as in
Kubernetes (other lease fields >= 0).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from fractions import Fraction
from collections.abc import Callable, Mapping
from typing import Any

from impl.apiserver.quantity import format_quantity, parse_quantity
from impl.apiserver.resources import ResourceType
from impl.apiserver.selectors import (dns1123_label_errors, dns1123_subdomain_errors, label_value_errors,
                                      qualified_name_errors)
from impl.apiserver.status import ApiError

__all__ = ["Cause", "validate_create", "validate_update", "ensure_valid", "CREATE_RULES", "UPDATE_RULES",
           "NAME_RULES", "label_selector_causes"]

Cause = tuple[str, str]
CreateRule = Callable[[Mapping[str, Any]], list[Cause]]
UpdateRule = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Cause]]

ANNOTATIONS_SIZE_MAX = 256 * 1024  # TotalAnnotationSizeLimitB
CONFIG_DATA_SIZE_MAX = 1024 * 1024  # MaxSecretSize, and the config map limit
CONFIG_KEY_LENGTH_MAX = 253
PORT_MAX = 65535
WEBHOOK_TIMEOUT_SECONDS_MAX = 30
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
RBAC_GROUP = "rbac.authorization.k8s.io"


# ---------------------------------------------------------------------------------------------
# Cause constructors (field.ErrorList's shapes) and small readers.

def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def invalid(path: str, value: Any, detail: str) -> Cause:
    return (path, f"Invalid value: {_show(value)}: {detail}")


def required(path: str, detail: str = "") -> Cause:
    return (path, "Required value" + (f": {detail}" if detail else ""))


def forbidden(path: str, detail: str) -> Cause:
    return (path, f"Forbidden: {detail}")


def unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    listed = ", ".join(json.dumps(option) for option in allowed)
    return (path, f"Unsupported value: {_show(value)}: supported values: {listed}")


def duplicate(path: str, value: Any) -> Cause:
    return (path, f"Duplicate value: {_show(value)}")


def too_long(path: str, limit: int) -> Cause:
    return (path, f"Too long: must have at most {limit} bytes")


def immutable(path: str, value: Any) -> Cause:
    return invalid(path, value, "field is immutable")


def _get(obj: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(obj, Mapping) and isinstance(key, str):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _each_message(path: str, value: Any, messages: list[str]) -> list[Cause]:
    return [invalid(path, value, message) for message in messages]


def _integer_at_least(path: str, value: Any, minimum: int) -> list[Cause]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return [invalid(path, value, "must be an integer")]
    if minimum == 0 and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    if value < minimum:
        return [invalid(path, value, f"must be greater than {minimum - 1}")]
    return []


def _in_range(path: str, value: Any, low: int, high: int) -> list[Cause]:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        return []
    return [invalid(path, value, f"must be between {low} and {high}, inclusive")]


def _one_of(path: str, value: Any, allowed: tuple[str, ...], needed: bool = False) -> list[Cause]:
    if value is None:
        return [required(path, "")] if needed else []
    return [] if value in allowed else [unsupported(path, value, allowed)]


def _quantity(path: str, text: Any) -> tuple[Fraction | None, list[Cause]]:
    try:
        return parse_quantity(text), []
    except ValueError as error:
        return None, [invalid(path, text, str(error))]


# ---------------------------------------------------------------------------------------------
# Names and metadata (ValidateObjectMeta).

def path_segment_errors(name: str) -> list[str]:
    """ValidatePathSegmentName: RBAC object names."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{character}'" for character in "/%" if character in name]


# kind -> name syntax; a kind not listed uses DNS-1123 subdomain.
NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "Namespace": dns1123_label_errors,
    "Service": dns1123_label_errors,
    "Role": path_segment_errors,
    "ClusterRole": path_segment_errors,
    "RoleBinding": path_segment_errors,
    "ClusterRoleBinding": path_segment_errors,
}


def _name_causes(kind: str, obj: Mapping[str, Any]) -> list[Cause]:
    name = _get(obj, "metadata", "name")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    return _each_message("metadata.name", name, NAME_RULES.get(kind, dns1123_subdomain_errors)(name))


def _namespace_causes(namespaced: bool, obj: Mapping[str, Any]) -> list[Cause]:
    namespace = _get(obj, "metadata", "namespace")
    if not namespaced:
        return [forbidden("metadata.namespace", "not allowed on this type")] if namespace else []
    if not namespace:
        return [required("metadata.namespace", "")]
    return _each_message("metadata.namespace", namespace, dns1123_label_errors(namespace))


def labels_causes(path: str, labels: Any) -> list[Cause]:
    causes = []
    for key, value in _dict(labels).items():
        causes += _each_message(path, key, qualified_name_errors(key))
        causes += _each_message(path, value, label_value_errors(str(value)))
    return causes


def _annotations_causes(annotations: Any) -> list[Cause]:
    causes, size = [], 0
    for key, value in _dict(annotations).items():
        causes += _each_message("metadata.annotations", key, qualified_name_errors(key.lower()))
        size += len(key) + len(str(value))
    if size > ANNOTATIONS_SIZE_MAX:
        causes.append(too_long("metadata.annotations", ANNOTATIONS_SIZE_MAX))
    return causes


def _finalizers_causes(finalizers: Any) -> list[Cause]:
    causes = []
    for finalizer in _list(finalizers):
        messages = qualified_name_errors(finalizer)
        if not messages and "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            messages = ["name is neither a standard finalizer name nor is it fully qualified"]
        causes += _each_message("metadata.finalizers", finalizer, messages)
    return causes


def validate_metadata(resource: ResourceType, obj: Mapping[str, Any]) -> list[Cause]:
    metadata = _dict(obj.get("metadata"))
    return (_name_causes(resource.kind, obj) + _namespace_causes(resource.namespaced, obj)
            + labels_causes("metadata.labels", metadata.get("labels"))
            + _annotations_causes(metadata.get("annotations"))
            + _finalizers_causes(metadata.get("finalizers")))


def label_selector_causes(path: str, selector: Any) -> list[Cause]:
    """ValidateLabelSelector: keys, values and operators of a metav1.LabelSelector."""
    selector = _dict(selector)
    causes = labels_causes(f"{path}.matchLabels", selector.get("matchLabels"))
    for index, expression in enumerate(_list(selector.get("matchExpressions"))):
        at = f"{path}.matchExpressions[{index}]"
        operator, values = _get(expression, "operator"), _list(_get(expression, "values"))
        if operator in ("In", "NotIn") and not values:
            causes.append(required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist") and values:
            causes.append(forbidden(f"{at}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.append(invalid(f"{at}.operator", operator, "not a valid selector operator"))
        causes += _each_message(f"{at}.key", _get(expression, "key") or "",
                                qualified_name_errors(str(_get(expression, "key") or "")))
        for value in values:
            causes += _each_message(f"{at}.values", value, label_value_errors(str(value)))
    return causes


def _selector_matches_labels(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    from impl.apiserver.selectors import label_selector_from_object
    try:
        return label_selector_from_object(selector).matches(labels)
    except ValueError:
        return True  # the selector's own causes already say what is wrong


# ---------------------------------------------------------------------------------------------
# Pods and pod templates.

PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")


def _container_ports_causes(path: str, ports: Any) -> list[Cause]:
    causes = []
    for index, port in enumerate(_list(ports)):
        at = f"{path}.ports[{index}]"
        if _get(port, "containerPort") is None:
            causes.append(required(f"{at}.containerPort", ""))
        causes += _in_range(f"{at}.containerPort", _get(port, "containerPort"), 1, PORT_MAX)
        if _get(port, "hostPort") not in (None, 0):
            causes += _in_range(f"{at}.hostPort", _get(port, "hostPort"), 1, PORT_MAX)
        causes += _one_of(f"{at}.protocol", _get(port, "protocol"), PROTOCOLS)
    return causes


def _resources_causes(path: str, resources: Any) -> list[Cause]:
    causes, parsed = [], {}
    for part in ("limits", "requests"):
        for name, text in _dict(_get(resources, part)).items():
            value, problems = _quantity(f"{path}.{part}[{name}]", text)
            causes += problems
            if value is not None and value < 0:
                causes.append(invalid(f"{path}.{part}[{name}]", text, "must be greater than or equal to 0"))
            parsed[(part, name)] = value
    for (part, name), value in parsed.items():
        limit = parsed.get(("limits", name))
        if part == "requests" and value is not None and limit is not None and value > limit:
            causes.append(invalid(f"{path}.requests", format_quantity(value),
                                  f"must be less than or equal to {name} limit of {format_quantity(limit)}"))
    return causes


def _container_causes(path: str, container: Any) -> list[Cause]:
    causes = []
    name = _get(container, "name")
    if not name:
        causes.append(required(f"{path}.name", ""))
    else:
        causes += _each_message(f"{path}.name", name, dns1123_label_errors(name))
    if not _get(container, "image"):
        causes.append(required(f"{path}.image", ""))
    causes += _container_ports_causes(path, _get(container, "ports"))
    causes += _resources_causes(f"{path}.resources", _get(container, "resources"))
    return causes


def _containers_causes(path: str, spec: Mapping[str, Any]) -> list[Cause]:
    causes, seen = [], set()
    if not _list(spec.get("containers")):
        causes.append(required(f"{path}.containers", ""))
    for field in ("initContainers", "containers"):
        for index, container in enumerate(_list(spec.get(field))):
            at = f"{path}.{field}[{index}]"
            causes += _container_causes(at, container)
            name = _get(container, "name")
            if name and name in seen:
                causes.append(duplicate(f"{at}.name", name))
            seen.add(name)
    return causes


def _volumes_causes(path: str, volumes: Any) -> list[Cause]:
    causes, seen = [], set()
    for index, volume in enumerate(_list(volumes)):
        name = _get(volume, "name")
        at = f"{path}.volumes[{index}].name"
        if not name:
            causes.append(required(at, ""))
            continue
        causes += _each_message(at, name, dns1123_label_errors(name))
        if name in seen:
            causes.append(duplicate(at, name))
        seen.add(name)
    return causes


def _tolerations_causes(path: str, tolerations: Any) -> list[Cause]:
    causes = []
    for index, toleration in enumerate(_list(tolerations)):
        at = f"{path}.tolerations[{index}]"
        causes += _one_of(f"{at}.operator", _get(toleration, "operator"), ("Equal", "Exists"))
        causes += _one_of(f"{at}.effect", _get(toleration, "effect") or None, ("NoExecute", "NoSchedule", "PreferNoSchedule"))
        if _get(toleration, "operator") == "Exists" and _get(toleration, "value"):
            causes.append(invalid(f"{at}.operator", "Exists", "value must be empty when `operator` is 'Exists'"))
    return causes


def validate_pod_spec(path: str, spec: Any) -> list[Cause]:
    spec = _dict(spec)
    causes = _containers_causes(path, spec) + _volumes_causes(path, spec.get("volumes"))
    causes += _one_of(f"{path}.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES)
    causes += _in_range(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1, 2**31 - 1)
    causes += _integer_at_least(f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"), 0)
    account = spec.get("serviceAccountName")
    if account:
        causes += _each_message(f"{path}.serviceAccountName", account, dns1123_subdomain_errors(account))
    return causes + _tolerations_causes(path, spec.get("tolerations"))


def _pod_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return validate_pod_spec("spec", obj.get("spec"))


# ---------------------------------------------------------------------------------------------
# Deployments, replica sets, jobs.

_PERCENT = re.compile(r"[0-9]+%")
_PERCENT_MESSAGE = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or "
                    "'93%', regex used for validation is '[0-9]+%')")


def _int_or_percent(path: str, value: Any) -> tuple[int | None, list[Cause]]:
    """(value, or percent for a string; causes). Non-negative either way."""
    if value is None:
        return None, []
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            return None, [invalid(path, value, _PERCENT_MESSAGE)]
        return int(value[:-1]), []
    return value, _integer_at_least(path, value, 0)


def _selector_and_template_causes(obj: Mapping[str, Any], kind: str) -> list[Cause]:
    selector = _get(obj, "spec", "selector")
    if selector is None:
        return [required("spec.selector", "")]
    if not _dict(selector).get("matchLabels") and not _dict(selector).get("matchExpressions"):
        return [invalid("spec.selector", selector, f"empty selector is invalid for {kind}")]
    causes = label_selector_causes("spec.selector", selector)
    labels = _dict(_get(obj, "spec", "template", "metadata", "labels"))
    if not causes and not _selector_matches_labels(selector, labels):
        causes.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    return causes


def _workload_template_causes(obj: Mapping[str, Any]) -> list[Cause]:
    template = _get(obj, "spec", "template")
    if template is None:
        return [required("spec.template", "")]
    causes = labels_causes("spec.template.metadata.labels", _get(template, "metadata", "labels"))
    causes += validate_pod_spec("spec.template.spec", _get(template, "spec"))
    policy = _get(template, "spec", "restartPolicy")
    if policy not in (None, "Always"):
        causes.append(unsupported("spec.template.spec.restartPolicy", policy, ("Always",)))
    return causes


def _replicas_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _integer_at_least("spec.replicas", spec.get("replicas"), 0)
    causes += _integer_at_least("spec.minReadySeconds", spec.get("minReadySeconds"), 0)
    return causes + _integer_at_least("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), 0)


def _deployment_selector_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _selector_and_template_causes(obj, "deployment")


def _replicaset_selector_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _selector_and_template_causes(obj, "replicaset")


def _strategy_rule(obj: Mapping[str, Any]) -> list[Cause]:
    strategy = _dict(_get(obj, "spec", "strategy"))
    kind = strategy.get("type")
    causes = _one_of("spec.strategy.type", kind, ("Recreate", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        return causes + [forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
    at = "spec.strategy.rollingUpdate"
    surge, surge_causes = _int_or_percent(f"{at}.maxSurge", _get(rolling, "maxSurge"))
    unavailable, unavailable_causes = _int_or_percent(f"{at}.maxUnavailable", _get(rolling, "maxUnavailable"))
    causes += surge_causes + unavailable_causes
    if isinstance(_get(rolling, "maxUnavailable"), str) and unavailable is not None and unavailable > 100:
        causes.append(invalid(f"{at}.maxUnavailable", _get(rolling, "maxUnavailable"), "must not be greater than 100%"))
    if surge == 0 and unavailable == 0:
        causes.append(invalid(f"{at}.maxUnavailable", _get(rolling, "maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
    return causes


def _job_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = []
    for field in ("completions", "parallelism", "backoffLimit"):
        causes += _integer_at_least(f"spec.{field}", spec.get(field), 0)
    causes += _in_range("spec.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1, 2**63 - 1)
    template = spec.get("template")
    if template is None:
        return causes + [required("spec.template", "")]
    causes += validate_pod_spec("spec.template.spec", _get(template, "spec"))
    policy = _get(template, "spec", "restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(unsupported("spec.template.spec.restartPolicy", policy or "", ("OnFailure", "Never")))
    if spec.get("selector") is not None:
        causes += _selector_and_template_causes(obj, "job")
    return causes


# ---------------------------------------------------------------------------------------------
# Services.

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service_port_causes(at: str, port: Any, named: bool) -> list[Cause]:
    causes = []
    if named and not _get(port, "name"):
        causes.append(required(f"{at}.name", ""))
    if _get(port, "name"):
        causes += _each_message(f"{at}.name", _get(port, "name"), dns1123_label_errors(_get(port, "name")))
    if _get(port, "port") is None:
        causes.append(required(f"{at}.port", ""))
    causes += _in_range(f"{at}.port", _get(port, "port"), 1, PORT_MAX)
    target = _get(port, "targetPort")
    if isinstance(target, int):
        causes += _in_range(f"{at}.targetPort", target, 1, PORT_MAX)
    if _get(port, "nodePort") not in (None, 0):
        causes += _in_range(f"{at}.nodePort", _get(port, "nodePort"), 1, PORT_MAX)
    return causes + _one_of(f"{at}.protocol", _get(port, "protocol"), PROTOCOLS)


def _service_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    kind = spec.get("type", "ClusterIP")
    causes = _one_of("spec.type", kind, SERVICE_TYPES)
    ports = _list(spec.get("ports"))
    if kind == "ExternalName":
        name = spec.get("externalName")
        causes += ([required("spec.externalName", "")] if not name
                   else _each_message("spec.externalName", name, dns1123_subdomain_errors(name.rstrip("."))))
    elif not ports and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports", ""))
    seen = set()
    for index, port in enumerate(ports):
        causes += _service_port_causes(f"spec.ports[{index}]", port, len(ports) > 1)
        name = _get(port, "name")
        if name in seen:
            causes.append(duplicate(f"spec.ports[{index}].name", name))
        seen.add(name)
    return causes + _cluster_ip_causes(spec.get("clusterIP"))


def _cluster_ip_causes(cluster_ip: Any) -> list[Cause]:
    if cluster_ip in (None, "", "None"):
        return []
    try:
        ipaddress.ip_address(cluster_ip)
    except ValueError:
        return [invalid("spec.clusterIP", cluster_ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


# ---------------------------------------------------------------------------------------------
# Config maps and secrets.

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CONFIG_KEY_MESSAGE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                       "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def config_key_errors(key: str) -> list[str]:
    errors = [f"must be no more than {CONFIG_KEY_LENGTH_MAX} characters"] if len(key) > CONFIG_KEY_LENGTH_MAX else []
    if not _CONFIG_KEY.fullmatch(key):
        errors.append(_CONFIG_KEY_MESSAGE)
    if key in (".", ".."):
        errors.append(f"must not be '{key}'")
    return errors


def _keys_causes(obj: Mapping[str, Any], fields: tuple[str, ...]) -> list[Cause]:
    causes, seen = [], set()
    for field in fields:
        for key in _dict(obj.get(field)):
            causes += _each_message(f"{field}[{key}]", key, config_key_errors(key))
            if key in seen:
                causes.append(invalid(f"{field}[{key}]", key, "duplicate of key present in another data field"))
            seen.add(key)
    return causes


def _decoded_length(text: Any) -> int:
    try:
        return len(base64.b64decode(str(text), validate=True))
    except ValueError:
        return len(str(text))


def _configmap_rule(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _keys_causes(obj, ("data", "binaryData"))
    size = sum(len(str(value)) for value in _dict(obj.get("data")).values())
    size += sum(_decoded_length(value) for value in _dict(obj.get("binaryData")).values())
    return causes + ([too_long("", CONFIG_DATA_SIZE_MAX)] if size > CONFIG_DATA_SIZE_MAX else [])


# secret type -> keys its data must hold (pkg/apis/core/validation ValidateSecret)
SECRET_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _secret_rule(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _keys_causes(obj, ("data", "stringData"))
    data = {**_dict(obj.get("data")), **_dict(obj.get("stringData"))}
    size = sum(_decoded_length(value) for value in _dict(obj.get("data")).values())
    size += sum(len(str(value)) for value in _dict(obj.get("stringData")).values())
    if size > CONFIG_DATA_SIZE_MAX:
        causes.append(too_long("data", CONFIG_DATA_SIZE_MAX))
    kind = obj.get("type") or "Opaque"
    causes += [required(f"data[{key}]", "") for key in SECRET_REQUIRED_KEYS.get(kind, ()) if key not in data]
    if kind == "kubernetes.io/service-account-token" and not _get(obj, "metadata", "annotations",
                                                                   "kubernetes.io/service-account.name"):
        causes.append(required("metadata.annotations[kubernetes.io/service-account.name]", ""))
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes.append(required("data[username]", ""))
    return causes


# ---------------------------------------------------------------------------------------------
# Volumes, claims, quotas, limit ranges, storage classes.

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_SOURCES = ("awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flexVolume",
                  "flocker", "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs",
                  "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
                  "vsphereVolume")


def _access_modes_causes(path: str, modes: Any) -> list[Cause]:
    if not _list(modes):
        return [required(path, "at least 1 access mode is required")]
    return [unsupported(path, mode, ACCESS_MODES) for mode in modes if mode not in ACCESS_MODES]


def _storage_causes(path: str, text: Any) -> list[Cause]:
    if text is None:
        return [required(path, "")]
    value, causes = _quantity(path, text)
    if value is not None and value <= 0:
        causes.append(invalid(path, text, "must be greater than zero"))
    return causes


def _pvc_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    return (_access_modes_causes("spec.accessModes", spec.get("accessModes"))
            + _storage_causes("spec.resources[storage]", _get(spec, "resources", "requests", "storage")))


def _pv_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _access_modes_causes("spec.accessModes", spec.get("accessModes"))
    causes += _storage_causes("spec.capacity[storage]", _get(spec, "capacity", "storage"))
    sources = [source for source in VOLUME_SOURCES if spec.get(source) is not None]
    if not sources:
        causes.append(required("spec", "must specify a volume type"))
    elif len(sources) > 1:
        causes.append(forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    return causes + _one_of("spec.persistentVolumeReclaimPolicy", spec.get("persistentVolumeReclaimPolicy"),
                            ("Delete", "Recycle", "Retain"))


def _quantities_causes(path: str, quantities: Any) -> tuple[dict[str, Fraction], list[Cause]]:
    parsed, causes = {}, []
    for name, text in _dict(quantities).items():
        causes += _each_message(path, name, qualified_name_errors(name))
        value, problems = _quantity(f"{path}[{name}]", text)
        causes += problems
        if value is not None and value < 0:
            causes.append(invalid(f"{path}[{name}]", text, "must be greater than or equal to 0"))
        if value is not None:
            parsed[name] = value
    return parsed, causes


def _resourcequota_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _quantities_causes("spec.hard", _get(obj, "spec", "hard"))[1]


LIMIT_TYPES = ("Container", "PersistentVolumeClaim", "Pod")


def _limit_item_causes(at: str, item: Any) -> list[Cause]:
    causes = _one_of(f"{at}.type", _get(item, "type"), LIMIT_TYPES, needed=True)
    bounds = {}
    for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
        bounds[field], problems = _quantities_causes(f"{at}.{field}", _get(item, field))
        causes += problems
    if _get(item, "type") == "Pod":
        causes += [forbidden(f"{at}.{field}", "may not be specified when `type` is 'Pod'")
                   for field in ("default", "defaultRequest") if bounds[field]]
    order = (("min", "defaultRequest"), ("defaultRequest", "default"), ("default", "max"), ("min", "max"))
    for lower, upper in order:
        for name, low in bounds[lower].items():
            high = bounds[upper].get(name)
            if high is not None and low > high:
                causes.append(invalid(f"{at}.{lower}[{name}]", format_quantity(low),
                                      f"{lower} value {format_quantity(low)} is greater than {upper} value "
                                      f"{format_quantity(high)}"))
    return causes


def _limitrange_rule(obj: Mapping[str, Any]) -> list[Cause]:
    causes = []
    for index, item in enumerate(_list(_get(obj, "spec", "limits"))):
        causes += _limit_item_causes(f"spec.limits[{index}]", item)
    return causes


def _storageclass_rule(obj: Mapping[str, Any]) -> list[Cause]:
    provisioner = obj.get("provisioner")
    causes = ([required("provisioner", "")] if not provisioner
              else _each_message("provisioner", provisioner, qualified_name_errors(provisioner.lower())))
    causes += _one_of("reclaimPolicy", obj.get("reclaimPolicy"), ("Delete", "Retain"))
    return causes + _one_of("volumeBindingMode", obj.get("volumeBindingMode"), ("Immediate", "WaitForFirstConsumer"))


# ---------------------------------------------------------------------------------------------
# RBAC.

def _rules_causes(obj: Mapping[str, Any], namespaced: bool) -> list[Cause]:
    causes = []
    for index, rule in enumerate(_list(obj.get("rules"))):
        at = f"rules[{index}]"
        if not _list(_get(rule, "verbs")):
            causes.append(required(f"{at}.verbs", "verbs must contain at least one value"))
        urls, resources = _list(_get(rule, "nonResourceURLs")), _list(_get(rule, "resources"))
        if urls and namespaced:
            causes.append(invalid(f"{at}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if urls and (resources or _list(_get(rule, "apiGroups"))):
            causes.append(invalid(f"{at}.nonResourceURLs", urls,
                                  "rules cannot apply to both regular resources and non-resource URLs"))
        if not urls and not _list(_get(rule, "apiGroups")):
            causes.append(required(f"{at}.apiGroups", "resource rules must supply at least one api group"))
        if not urls and not resources:
            causes.append(required(f"{at}.resources", "resource rules must supply at least one resource"))
    return causes


def _role_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _rules_causes(obj, namespaced=True)


def _clusterrole_rule(obj: Mapping[str, Any]) -> list[Cause]:
    if obj.get("aggregationRule") is not None and not obj.get("rules"):
        return []  # the aggregation controller fills the rules
    return _rules_causes(obj, namespaced=False)


def _role_ref_causes(obj: Mapping[str, Any], kinds: tuple[str, ...]) -> list[Cause]:
    ref = _dict(obj.get("roleRef"))
    causes = _one_of("roleRef.apiGroup", ref.get("apiGroup", ""), (RBAC_GROUP,))
    causes += _one_of("roleRef.kind", ref.get("kind", ""), kinds)
    name = ref.get("name")
    if not name:
        return causes + [required("roleRef.name", "")]
    return causes + _each_message("roleRef.name", name, path_segment_errors(name))


def _subject_causes(at: str, subject: Any, namespaced_binding: bool) -> list[Cause]:
    kind, name = _get(subject, "kind"), _get(subject, "name")
    causes = [] if name else [required(f"{at}.name", "")]
    if kind == "ServiceAccount":
        causes += _one_of(f"{at}.apiGroup", _get(subject, "apiGroup") or "", ("",))
        if name:
            causes += _each_message(f"{at}.name", name, dns1123_subdomain_errors(name))
        if not namespaced_binding and not _get(subject, "namespace"):
            causes.append(required(f"{at}.namespace", ""))
    elif kind in ("User", "Group"):
        causes += _one_of(f"{at}.apiGroup", _get(subject, "apiGroup") or "", (RBAC_GROUP,))
    else:
        causes.append(unsupported(f"{at}.kind", kind or "", ("ServiceAccount", "User", "Group")))
    return causes


def _binding_causes(obj: Mapping[str, Any], namespaced: bool) -> list[Cause]:
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    causes = _role_ref_causes(obj, kinds)
    for index, subject in enumerate(_list(obj.get("subjects"))):
        causes += _subject_causes(f"subjects[{index}]", subject, namespaced)
    return causes


def _rolebinding_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _binding_causes(obj, namespaced=True)


def _clusterrolebinding_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _binding_causes(obj, namespaced=False)


# ---------------------------------------------------------------------------------------------
# Leases and webhook configurations.

def _lease_rule(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _integer_at_least("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"), 1)
    return causes + _integer_at_least("spec.leaseTransitions", spec.get("leaseTransitions"), 0)


def fully_qualified_name_errors(name: str) -> list[str]:
    """IsFullyQualifiedName: a DNS subdomain of at least three segments (webhook names)."""
    if not name:
        return ["Required value"]
    errors = dns1123_subdomain_errors(name.lower())
    if not errors and name.count(".") < 2:
        errors.append("should be a domain with at least three segments separated by dots")
    return errors


def _client_config_causes(at: str, config: Any) -> list[Cause]:
    url, service = _get(config, "url"), _get(config, "service")
    if (url is None) == (service is None):
        return [required(at, "exactly one of url or service is required")]
    if url is not None:
        return [] if str(url).startswith("https://") else [invalid(f"{at}.url", url, "'https' is the only allowed URL scheme")]
    causes = [required(f"{at}.service.{field}", "") for field in ("namespace", "name") if not _get(service, field)]
    port = _get(service, "port")
    return causes + _in_range(f"{at}.service.port", port, 1, PORT_MAX)


def _webhook_causes(at: str, hook: Any, mutating: bool) -> list[Cause]:
    causes = [(f"{at}.name", message) if message == "Required value" else invalid(f"{at}.name", _get(hook, "name"), message)
              for message in fully_qualified_name_errors(_get(hook, "name") or "")]
    causes += _client_config_causes(f"{at}.clientConfig", _get(hook, "clientConfig"))
    causes += _one_of(f"{at}.failurePolicy", _get(hook, "failurePolicy"), ("Fail", "Ignore"))
    causes += _one_of(f"{at}.matchPolicy", _get(hook, "matchPolicy"), ("Equivalent", "Exact"))
    if _get(hook, "sideEffects") is None:
        causes.append(required(f"{at}.sideEffects", 'must specify one of "None", "NoneOnDryRun"'))
    else:
        causes += _one_of(f"{at}.sideEffects", _get(hook, "sideEffects"), ("None", "NoneOnDryRun"))
    if not _list(_get(hook, "admissionReviewVersions")):
        causes.append(required(f"{at}.admissionReviewVersions", 'must specify one of "v1", "v1beta1"'))
    timeout = _get(hook, "timeoutSeconds")
    if _in_range(f"{at}.timeoutSeconds", timeout, 1, WEBHOOK_TIMEOUT_SECONDS_MAX):
        causes.append(invalid(f"{at}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds"))
    if mutating:
        causes += _one_of(f"{at}.reinvocationPolicy", _get(hook, "reinvocationPolicy"), ("IfNeeded", "Never"))
    for selector in ("namespaceSelector", "objectSelector"):
        causes += label_selector_causes(f"{at}.{selector}", _get(hook, selector))
    return causes


def _webhooks_causes(obj: Mapping[str, Any], mutating: bool) -> list[Cause]:
    causes, seen = [], set()
    for index, hook in enumerate(_list(obj.get("webhooks"))):
        causes += _webhook_causes(f"webhooks[{index}]", hook, mutating)
        if _get(hook, "name") in seen:
            causes.append(duplicate(f"webhooks[{index}].name", _get(hook, "name")))
        seen.add(_get(hook, "name"))
    return causes


def _mutating_webhooks_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _webhooks_causes(obj, mutating=True)


def _validating_webhooks_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return _webhooks_causes(obj, mutating=False)


# ---------------------------------------------------------------------------------------------
# Updates.

_POD_UPDATE_MESSAGE = ("pod updates may not change fields other than `spec.containers[*].image`,"
                       "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                       "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
                       "set to 1 if it was previously negative)")


def _metadata_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    causes = []
    for field in ("name", "namespace", "uid", "creationTimestamp"):
        before, after = _get(old, "metadata", field), _get(new, "metadata", field)
        if before and after != before:
            causes.append(immutable(f"metadata.{field}", after))
    return causes


def _with_old_images(new_spec: dict, old_spec: Mapping[str, Any]) -> None:
    for field in ("containers", "initContainers"):
        new_list, old_list = _list(new_spec.get(field)), _list(old_spec.get(field))
        if len(new_list) == len(old_list):
            for new_container, old_container in zip(new_list, old_list):
                if isinstance(new_container, dict) and isinstance(old_container, Mapping):
                    new_container["image"] = old_container.get("image")


def _pod_allowed_changes_causes(new_spec: dict, old_spec: Mapping[str, Any]) -> list[Cause]:
    """Undo the changes a pod update may make in ``new_spec`` (a copy); say what was not allowed."""
    causes = []
    old_tolerations, new_tolerations = _list(old_spec.get("tolerations")), _list(new_spec.get("tolerations"))
    if all(toleration in new_tolerations for toleration in old_tolerations):
        new_spec["tolerations"] = old_spec.get("tolerations")
    old_gates = _list(old_spec.get("schedulingGates"))
    for gate in _list(new_spec.get("schedulingGates")):
        if gate not in old_gates:
            causes.append(forbidden("spec.schedulingGates",
                                    f"only deletion is allowed, but found new scheduling gate '{_get(gate, 'name')}'"))
    new_spec["schedulingGates"] = old_spec.get("schedulingGates")
    new_spec["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and new_spec.get("terminationGracePeriodSeconds") == 1:
        new_spec["terminationGracePeriodSeconds"] = old_grace
    _with_old_images(new_spec, old_spec)
    return causes


def _without_nulls(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in spec.items() if value is not None}


def _pod_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    new_spec = json.loads(json.dumps(_dict(new.get("spec"))))  # a private copy to undo allowed changes in
    old_spec = _dict(old.get("spec"))
    causes = _pod_allowed_changes_causes(new_spec, old_spec)
    if _without_nulls(new_spec) != _without_nulls(old_spec):
        causes.append(forbidden("spec", _POD_UPDATE_MESSAGE))
    return causes


def _immutable_field_rule(*keys: str) -> UpdateRule:
    path = ".".join(keys)

    def rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        after = _get(new, *keys)
        return [] if after == _get(old, *keys) else [immutable(path, after)]
    rule.__name__ = f"immutable_{path.replace('.', '_')}"
    return rule


def _service_cluster_ip_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    before, after = _get(old, "spec", "clusterIP"), _get(new, "spec", "clusterIP")
    if not before or _get(new, "spec", "type") == "ExternalName" or _get(old, "spec", "type") == "ExternalName":
        return []
    return [] if after == before else [immutable("spec.clusterIP", after)]


def _pvc_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    new_spec, old_spec = dict(_dict(new.get("spec"))), dict(_dict(old.get("spec")))
    causes = []
    before, after = _get(old_spec, "resources", "requests", "storage"), _get(new_spec, "resources", "requests", "storage")
    try:
        if before is not None and after is not None and parse_quantity(after) < parse_quantity(before):
            causes.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    except ValueError:
        pass  # the create rules report the quantity
    for spec in (new_spec, old_spec):
        spec["resources"] = {**_dict(spec.get("resources")), "requests": None}
    if not old_spec.get("volumeName"):
        old_spec["volumeName"] = new_spec.get("volumeName")  # the binder sets it once
    if _without_nulls(new_spec) != _without_nulls(old_spec):
        causes.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                        "volumeAttributesClassName for bound claims"))
    return causes


def _pv_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    for source in VOLUME_SOURCES:
        if _get(new, "spec", source) != _get(old, "spec", source):
            return [forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation")]
    return []


def _role_ref_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    ref = new.get("roleRef")
    return [] if ref == old.get("roleRef") else [invalid("roleRef", ref, "cannot change roleRef")]


def _immutable_data_rule(fields: tuple[str, ...]) -> UpdateRule:
    def rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        if old.get("immutable") is not True:
            return []
        message = "field is immutable when `immutable` is set"
        causes = [] if new.get("immutable") is True else [forbidden("immutable", message)]
        return causes + [forbidden(field, message) for field in fields if new.get(field) != old.get(field)]
    return rule


def _storageclass_update_rule(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return [forbidden(field, f"updates to {field} are forbidden.")
            for field in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode")
            if new.get(field) != old.get(field)]


# ---------------------------------------------------------------------------------------------
# Dispatch.

CREATE_RULES: dict[str, tuple[CreateRule, ...]] = {
    "Pod": (_pod_rule,),
    "Deployment": (_deployment_selector_rule, _workload_template_causes, _replicas_rule, _strategy_rule),
    "ReplicaSet": (_replicaset_selector_rule, _workload_template_causes, _replicas_rule),
    "Job": (_job_rule,),
    "Service": (_service_rule,),
    "ConfigMap": (_configmap_rule,),
    "Secret": (_secret_rule,),
    "PersistentVolumeClaim": (_pvc_rule,),
    "PersistentVolume": (_pv_rule,),
    "ResourceQuota": (_resourcequota_rule,),
    "LimitRange": (_limitrange_rule,),
    "Role": (_role_rule,),
    "ClusterRole": (_clusterrole_rule,),
    "RoleBinding": (_rolebinding_rule,),
    "ClusterRoleBinding": (_clusterrolebinding_rule,),
    "Lease": (_lease_rule,),
    "StorageClass": (_storageclass_rule,),
    "MutatingWebhookConfiguration": (_mutating_webhooks_rule,),
    "ValidatingWebhookConfiguration": (_validating_webhooks_rule,),
}

UPDATE_RULES: dict[str, tuple[UpdateRule, ...]] = {
    "Pod": (_pod_update_rule,),
    "Deployment": (_immutable_field_rule("spec", "selector"),),
    "ReplicaSet": (_immutable_field_rule("spec", "selector"),),
    "Job": (_immutable_field_rule("spec", "selector"), _immutable_field_rule("spec", "template")),
    "Service": (_service_cluster_ip_rule,),
    "PersistentVolumeClaim": (_pvc_update_rule,),
    "PersistentVolume": (_pv_update_rule,),
    "RoleBinding": (_role_ref_update_rule,),
    "ClusterRoleBinding": (_role_ref_update_rule,),
    "ConfigMap": (_immutable_data_rule(("data", "binaryData")),),
    "Secret": (_immutable_data_rule(("data", "stringData")), _immutable_field_rule("type")),
    "StorageClass": (_storageclass_update_rule,),
}


def validate_create(resource: ResourceType, obj: Mapping[str, Any]) -> list[Cause]:
    causes = validate_metadata(resource, obj)
    for rule in CREATE_RULES.get(resource.kind, ()):
        causes += rule(obj)
    return causes


def validate_update(resource: ResourceType, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    causes = validate_create(resource, new) + _metadata_update_rule(new, old)
    for rule in UPDATE_RULES.get(resource.kind, ()):
        causes += rule(new, old)
    return causes


def ensure_valid(resource: ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> None:
    """Raise 422 Invalid naming every cause, as the registry does before it writes."""
    causes = validate_create(resource, obj) if old is None else validate_update(resource, obj, old)
    if causes:
        name = str(_get(obj, "metadata", "name") or "")
        raise ApiError.invalid(resource.kind, name, tuple(causes), group=resource.group)
