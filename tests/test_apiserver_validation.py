"""Object validation: one valid real-world object per kind, then each rule broken once, with the field
path and message shape Kubernetes answers; update rules; quantities (validation's helper module)."""

import copy
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from impl.apiserver.quantity import format_quantity, parse_quantity
from impl.apiserver.resources import RESOURCES
from impl.apiserver.status import ApiError
from impl.apiserver.validation import ensure_valid, validate_create, validate_update


def meta(name="web", namespace="default", **more):
    return {"name": name, **({"namespace": namespace} if namespace else {}), **more}


POD_SPEC = {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                          "limits": {"cpu": "500m", "memory": "128Mi"}}}]}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}
WEBHOOK = {"name": "pods.policy.example.com", "clientConfig": {"service": {"namespace": "policy", "name": "hook"}},
           "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
           "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"]}

VALID = {
    "pods": {"metadata": meta(labels={"app": "web"}), "spec": POD_SPEC},
    "deployments": {"metadata": meta(), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                                 "template": TEMPLATE,
                                                 "strategy": {"type": "RollingUpdate",
                                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}},
    "replicasets": {"metadata": meta(), "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                                 "template": TEMPLATE}},
    "jobs": {"metadata": meta(), "spec": {"completions": 2, "parallelism": 1, "template": {
        "metadata": {"labels": {"job": "pi"}}, "spec": {**POD_SPEC, "restartPolicy": "Never"}}}},
    "services": {"metadata": meta(), "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    "configmaps": {"metadata": meta(), "data": {"game.properties": "lives=3", "ui_mode": "dark"}},
    "secrets": {"metadata": meta(), "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}},
    "persistentvolumeclaims": {"metadata": meta(), "spec": {"accessModes": ["ReadWriteOnce"],
                                                            "resources": {"requests": {"storage": "8Gi"}}}},
    "persistentvolumes": {"metadata": meta("pv0001", None), "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/mnt/data"},
        "persistentVolumeReclaimPolicy": "Retain"}},
    "resourcequotas": {"metadata": meta(), "spec": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi"}}},
    "limitranges": {"metadata": meta(), "spec": {"limits": [{"type": "Container", "min": {"cpu": "100m"},
                                                             "defaultRequest": {"cpu": "200m"},
                                                             "default": {"cpu": "500m"}, "max": {"cpu": "1"}}]}},
    "roles": {"metadata": meta("pod-reader"), "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    "clusterroles": {"metadata": meta("system:metrics", None), "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]},
    "rolebindings": {"metadata": meta("read-pods"), "subjects": [
        {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "default"}],
        "roleRef": {"kind": "Role", "name": "pod-reader", "apiGroup": "rbac.authorization.k8s.io"}},
    "clusterrolebindings": {"metadata": meta("read-secrets-global", None), "subjects": [
        {"kind": "Group", "name": "manager", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "robot", "namespace": "ci"}],
        "roleRef": {"kind": "ClusterRole", "name": "secret-reader", "apiGroup": "rbac.authorization.k8s.io"}},
    "leases": {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 15,
                                                           "leaseTransitions": 0}},
    "storageclasses": {"metadata": meta("standard", None), "provisioner": "kubernetes.io/aws-ebs",
                       "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"},
    "mutatingwebhookconfigurations": {"metadata": meta("policy", None),
                                      "webhooks": [{**WEBHOOK, "reinvocationPolicy": "IfNeeded"}]},
    "validatingwebhookconfigurations": {"metadata": meta("policy", None), "webhooks": [WEBHOOK]},
    "namespaces": {"metadata": meta("team-a", None)},
    "nodes": {"metadata": meta("node-1.example.com", None)},
    "serviceaccounts": {"metadata": meta("builder")},
    "endpoints": {"metadata": meta()},
}


def resource(plural):
    return next(r for r in RESOURCES if r.plural == plural)


def causes_of(plural, obj):
    return validate_create(resource(plural), obj)


def test_every_served_kind_has_a_valid_example():
    assert {r.plural for r in RESOURCES} == set(VALID)


@pytest.mark.parametrize("plural", sorted(VALID))
def test_valid_examples_pass(plural):
    assert causes_of(plural, VALID[plural]) == []
    assert validate_update(resource(plural), VALID[plural], VALID[plural]) == []


def broken(plural, change):
    obj = copy.deepcopy(VALID[plural])
    change(obj)
    return causes_of(plural, obj)


def set_path(*keys_and_value):
    *keys, value = keys_and_value

    def change(obj):
        target = obj
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


# (resource, change, expected field, expected message start)
BROKEN = [
    ("pods", set_path("metadata", "name", "Web_1"), "metadata.name", 'Invalid value: "Web_1": a lowercase RFC 1123 subdomain'),
    ("pods", set_path("metadata", "name", ""), "metadata.name", "Required value: name or generateName is required"),
    ("pods", set_path("metadata", "namespace", ""), "metadata.namespace", "Required value"),
    ("namespaces", set_path("metadata", "name", "a.b"), "metadata.name", 'Invalid value: "a.b": a lowercase RFC 1123 label'),
    ("services", set_path("metadata", "name", "x" * 64), "metadata.name", "Invalid value:"),
    ("roles", set_path("metadata", "name", "a/b"), "metadata.name", "Invalid value: \"a/b\": may not contain '/'"),
    ("namespaces", set_path("metadata", "namespace", "x"), "metadata.namespace", "Forbidden: not allowed on this type"),
    ("pods", set_path("metadata", "labels", {"app": "web frontend"}), "metadata.labels", 'Invalid value: "web frontend"'),
    ("pods", set_path("metadata", "annotations", {"a": "x" * (256 * 1024)}), "metadata.annotations", "Too long"),
    ("pods", set_path("metadata", "finalizers", ["mine"]), "metadata.finalizers",
     'Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified'),
    ("pods", set_path("spec", "containers", []), "spec.containers", "Required value"),
    ("pods", set_path("spec", "containers", [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
     "spec.containers[1].name", 'Duplicate value: "a"'),
    ("pods", set_path("spec", "containers", [{"name": "a"}]), "spec.containers[0].image", "Required value"),
    ("pods", set_path("spec", "containers", [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]),
     "spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("pods", set_path("spec", "containers", [{"name": "a", "image": "x", "resources": {
        "requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]),
     "spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1'),
    ("pods", set_path("spec", "containers", [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "lots"}}}]),
     "spec.containers[0].resources.limits[cpu]", 'Invalid value: "lots": quantities must match'),
    ("pods", set_path("spec", "restartPolicy", "Sometimes"), "spec.restartPolicy", 'Unsupported value: "Sometimes"'),
    ("deployments", set_path("spec", "selector", None), "spec.selector", "Required value"),
    ("deployments", set_path("spec", "selector", {}), "spec.selector", "Invalid value: {}: empty selector is invalid for deployment"),
    ("deployments", set_path("spec", "selector", {"matchLabels": {"app": "api"}}), "spec.template.metadata.labels",
     'Invalid value: {"app":"web"}: `selector` does not match template `labels`'),
    ("deployments", set_path("spec", "replicas", -1), "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
    ("deployments", set_path("spec", "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
     "spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: "0%": may not be 0 when `maxSurge` is 0'),
    ("deployments", set_path("spec", "strategy", {"rollingUpdate": {"maxSurge": "25"}}),
     "spec.strategy.rollingUpdate.maxSurge", 'Invalid value: "25": a valid percent string'),
    ("replicasets", set_path("spec", "template", "spec", {**POD_SPEC, "restartPolicy": "Never"}),
     "spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
    ("jobs", set_path("spec", "template", "spec", "restartPolicy", "Always"), "spec.template.spec.restartPolicy",
     'Unsupported value: "Always": supported values: "OnFailure", "Never"'),
    ("jobs", set_path("spec", "parallelism", -2), "spec.parallelism", "Invalid value: -2"),
    ("services", set_path("spec", "ports", []), "spec.ports", "Required value"),
    ("services", set_path("spec", "ports", [{"port": 0}]), "spec.ports[0].port", "Invalid value: 0"),
    ("services", set_path("spec", "type", "Magic"), "spec.type", 'Unsupported value: "Magic"'),
    ("services", set_path("spec", "ports", [{"port": 80, "name": "a"}, {"port": 81}]), "spec.ports[1].name", "Required value"),
    ("configmaps", set_path("data", {"bad key": "x"}), "data[bad key]", 'Invalid value: "bad key": a valid config key'),
    ("configmaps", set_path("data", {"big": "x" * (1024 * 1024 + 1)}), "", "Too long"),
    ("secrets", set_path("data", {"tls.crt": "Y2VydA=="}), "data[tls.key]", "Required value"),
    ("persistentvolumeclaims", set_path("spec", "accessModes", []), "spec.accessModes", "Required value"),
    ("persistentvolumeclaims", set_path("spec", "resources", {}), "spec.resources[storage]", "Required value"),
    ("persistentvolumes", set_path("spec", "capacity", {}), "spec.capacity[storage]", "Required value"),
    ("persistentvolumes", lambda pv: pv["spec"].pop("hostPath"), "spec", "Required value: must specify a volume type"),
    ("resourcequotas", set_path("spec", "hard", {"pods": "-1"}), "spec.hard[pods]", "Invalid value"),
    ("limitranges", set_path("spec", "limits", 0, "max", {"cpu": "50m"}), "spec.limits[0].min[cpu]",
     "Invalid value: \"100m\": min value 100m is greater than max value 50m"),
    ("roles", set_path("rules", 0, "verbs", []), "rules[0].verbs", "Required value"),
    ("roles", set_path("rules", [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]), "rules[0].nonResourceURLs", "Invalid value"),
    ("rolebindings", set_path("roleRef", "apiGroup", "rbac"), "roleRef.apiGroup", 'Unsupported value: "rbac"'),
    ("clusterrolebindings", set_path("roleRef", "kind", "Role"), "roleRef.kind",
     'Unsupported value: "Role": supported values: "ClusterRole"'),
    ("clusterrolebindings", set_path("subjects", 1, "namespace", ""), "subjects[1].namespace", "Required value"),
    ("rolebindings", set_path("subjects", 0, "kind", "Robot"), "subjects[0].kind", 'Unsupported value: "Robot"'),
    ("leases", set_path("spec", "leaseDurationSeconds", 0), "spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0"),
    ("leases", set_path("spec", "leaseTransitions", -1), "spec.leaseTransitions", "Invalid value: -1"),
    ("storageclasses", lambda sc: sc.pop("provisioner"), "provisioner", "Required value"),
    ("validatingwebhookconfigurations", set_path("webhooks", 0, "name", "hook"), "webhooks[0].name",
     'Invalid value: "hook": should be a domain with at least three segments separated by dots'),
    ("validatingwebhookconfigurations", set_path("webhooks", 0, "clientConfig", {}), "webhooks[0].clientConfig",
     "Required value: exactly one of url or service is required"),
    ("validatingwebhookconfigurations", set_path("webhooks", 0, "failurePolicy", "Retry"), "webhooks[0].failurePolicy",
     'Unsupported value: "Retry": supported values: "Fail", "Ignore"'),
    ("validatingwebhookconfigurations", lambda c: c["webhooks"][0].pop("sideEffects"), "webhooks[0].sideEffects", "Required value"),
    ("validatingwebhookconfigurations", set_path("webhooks", 0, "admissionReviewVersions", []),
     "webhooks[0].admissionReviewVersions", "Required value"),
    ("mutatingwebhookconfigurations", set_path("webhooks", 0, "reinvocationPolicy", "Always"), "webhooks[0].reinvocationPolicy",
     'Unsupported value: "Always"'),
]


@pytest.mark.parametrize("plural, change, field, message", BROKEN)
def test_each_rule_broken_once(plural, change, field, message):
    causes = broken(plural, change)
    assert any(path == field and why.startswith(message) for path, why in causes), causes


def test_ensure_valid_raises_one_422_naming_every_cause():
    pod = copy.deepcopy(VALID["pods"])
    pod["spec"]["containers"] = [{"name": "Bad"}]
    with pytest.raises(ApiError) as raised:
        ensure_valid(resource("pods"), pod)
    error = raised.value
    assert (error.code, error.kind, error.name) == (422, "Pod", "web")
    assert [field for field, _ in error.causes] == ["spec.containers[0].name", "spec.containers[0].image"]
    assert error.message.startswith('Pod "web" is invalid: spec.containers[0].name: Invalid value: "Bad"')
    ensure_valid(resource("pods"), VALID["pods"])  # a valid object raises nothing


# --- updates

def updated(plural, change):
    new = copy.deepcopy(VALID[plural])
    change(new)
    return validate_update(resource(plural), new, VALID[plural])


def test_metadata_identity_is_immutable():
    old = copy.deepcopy(VALID["configmaps"])
    old["metadata"]["uid"] = "u1"
    assert validate_update(resource("configmaps"), {**old, "metadata": {**old["metadata"], "uid": "u2"}}, old) == [
        ("metadata.uid", 'Invalid value: "u2": field is immutable')]
    assert updated("configmaps", set_path("metadata", "name", "other")) == [
        ("metadata.name", 'Invalid value: "other": field is immutable')]


def test_pod_update_allows_images_and_new_tolerations_only():
    assert updated("pods", set_path("spec", "containers", 0, "image", "nginx:1.26")) == []
    assert updated("pods", set_path("spec", "tolerations", [{"key": "k", "operator": "Exists"}])) == []
    assert updated("pods", set_path("spec", "activeDeadlineSeconds", 30)) == []
    causes = updated("pods", set_path("spec", "containers", 0, "ports", [{"containerPort": 81}]))
    assert causes == [("spec", causes[0][1])]
    assert causes[0][1].startswith("Forbidden: pod updates may not change fields other than `spec.containers[*].image`")


def test_pod_tolerations_may_not_be_removed_and_gates_only_removed():
    old = copy.deepcopy(VALID["pods"])
    old["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    old["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
    new = copy.deepcopy(old)
    new["spec"]["schedulingGates"] = []
    assert validate_update(resource("pods"), new, old) == []
    new["spec"]["tolerations"] = []
    assert [field for field, _ in validate_update(resource("pods"), new, old)] == ["spec"]
    new = copy.deepcopy(old)
    new["spec"]["schedulingGates"] = [{"name": "example.com/wait"}, {"name": "example.com/more"}]
    assert ("spec.schedulingGates", "Forbidden: only deletion is allowed, but found new scheduling gate "
            "'example.com/more'") in validate_update(resource("pods"), new, old)


@pytest.mark.parametrize("plural, change, field", [
    ("deployments", set_path("spec", "selector", {"matchLabels": {"app": "web", "tier": "x"}}), "spec.selector"),
    ("replicasets", set_path("spec", "selector", {"matchLabels": {"app": "web", "tier": "x"}}), "spec.selector"),
    ("jobs", set_path("spec", "template", "spec", "containers", 0, "image", "other"), "spec.template"),
    ("rolebindings", set_path("roleRef", "name", "other"), "roleRef"),
    ("secrets", set_path("type", "Opaque"), "type"),
    ("storageclasses", set_path("provisioner", "example.com/other"), "provisioner"),
    ("storageclasses", set_path("parameters", {"type": "gp3"}), "parameters"),
    ("persistentvolumes", set_path("spec", "hostPath", {"path": "/elsewhere"}), "spec.persistentvolumesource"),
    ("persistentvolumeclaims", set_path("spec", "accessModes", ["ReadWriteMany"]), "spec"),
    ("persistentvolumeclaims", set_path("spec", "resources", "requests", "storage", "4Gi"), "spec.resources.requests.storage"),
])
def test_immutable_fields(plural, change, field):
    assert field in [path for path, _ in updated(plural, change)]


def test_mutable_counterparts():
    assert updated("deployments", set_path("spec", "replicas", 5)) == []
    assert updated("persistentvolumeclaims", set_path("spec", "resources", "requests", "storage", "16Gi")) == []
    assert updated("persistentvolumeclaims", set_path("spec", "volumeName", "pv0001")) == []
    assert updated("configmaps", set_path("data", {"other": "x"})) == []


def test_service_cluster_ip_is_immutable_once_set():
    old = copy.deepcopy(VALID["services"])
    old["spec"]["clusterIP"] = "10.0.0.10"
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.0.0.11"
    assert validate_update(resource("services"), new, old) == [("spec.clusterIP", 'Invalid value: "10.0.0.11": field is immutable')]
    assert validate_update(resource("services"), old, VALID["services"]) == []


def test_immutable_config_maps_and_secrets():
    old = {**copy.deepcopy(VALID["configmaps"]), "immutable": True}
    assert validate_update(resource("configmaps"), {**old, "data": {"x": "y"}}, old) == [
        ("data", "Forbidden: field is immutable when `immutable` is set")]
    assert validate_update(resource("configmaps"), {**old, "immutable": False}, old) == [
        ("immutable", "Forbidden: field is immutable when `immutable` is set")]
    secret = {**copy.deepcopy(VALID["secrets"]), "immutable": True}
    assert validate_update(resource("secrets"), {**secret, "data": {**secret["data"], "extra": "eA=="}}, secret) == [
        ("data", "Forbidden: field is immutable when `immutable` is set")]


def test_a_rule_table_entry_can_be_overridden(monkeypatch):
    from impl.apiserver import validation
    monkeypatch.setitem(validation.CREATE_RULES, "Lease", ())
    assert broken("leases", set_path("spec", "leaseDurationSeconds", -1)) == []


# --- quantities

@pytest.mark.parametrize("text, value", [
    ("500m", Fraction(1, 2)), ("2Gi", 2 * 1024**3), ("1e3", 1000), ("1.5", Fraction(3, 2)), ("128974848", 128974848),
    ("129e6", 129_000_000), ("123Mi", 123 * 1024**2), ("1k", 1000), ("1Ki", 1024), ("0.1", Fraction(1, 10)),
    ("100u", Fraction(1, 10_000)), ("3n", Fraction(3, 10**9)), ("1E", 10**18), ("1Ei", 1024**6), ("-2", -2),
    (".5", Fraction(1, 2)), ("1E-3", Fraction(1, 1000)),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Zi", "1.2.3", "m", "1 Gi", "Gi", "1KiB", "1e", "--1"])
def test_parse_quantity_refuses(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("value, binary, text", [
    (Fraction(1, 2), False, "500m"), (1000, False, "1k"), (1024, True, "1Ki"), (1536 * 1024**2, True, "1536Mi"),
    (1500, True, "1500"), (0, False, "0"), (Fraction(3, 2), False, "1500m"), (-1000, False, "-1k"),
    (Fraction(1, 10**10), False, "1n"),
])
def test_format_quantity(value, binary, text):
    assert format_quantity(value, binary) == text


@given(st.fractions(min_value=-10**12, max_value=10**12, max_denominator=1000), st.booleans())
def test_format_then_parse_is_exact_to_the_nano(value, binary):
    parsed = parse_quantity(format_quantity(value, binary))
    assert 0 <= abs(parsed) - abs(value) < Fraction(1, 10**9)  # the magnitude rounds up, as Kubernetes'
    assert (parsed < 0) == (value < 0)

