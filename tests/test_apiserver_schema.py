"""Decode-time type checks (impl/apiserver/schema.py): every served kind's valid example passes;
each wrong JSON type is a 400 naming the Go struct field as kube's decoder does; nulls become Go's
zero values; and any JSON value put anywhere in a pod, a deployment or a webhook configuration is
either accepted (and then conforms to the table) or a 400, never another exception."""

import copy
import json

import pytest
from hypothesis import event, given, note, strategies as st

from impl.apiserver.resources import RESOURCES
from impl.apiserver.schema import (DELETE_OPTIONS, KIND_TABLES, SUBRESOURCE_TABLES, ListOf, MapOf, Scalar, Struct,
                                   check_delete_options, check_types)
from impl.apiserver.status import ApiError
from tests.test_apiserver_validation import VALID


def resource(plural):
    return next(r for r in RESOURCES if r.plural == plural)


def refusal(plural, obj, subresource=""):
    with pytest.raises(ApiError) as caught:
        check_types(resource(plural), obj, subresource)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    return caught.value.message


def with_change(plural, *keys_and_value):
    """A copy of the valid example with one value set at a path (lists indexed by int)."""
    *keys, value = keys_and_value
    obj = copy.deepcopy(VALID[plural])
    target = obj
    for key in keys[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[keys[-1]] = value
    return obj


# ----- every kind ---------------------------------------------------------------------------

def test_every_served_kind_has_a_table():
    assert {r.kind for r in RESOURCES} == set(KIND_TABLES)


@pytest.mark.parametrize("plural", sorted(VALID))
def test_valid_examples_pass_unchanged(plural):
    obj = copy.deepcopy(VALID[plural])
    check_types(resource(plural), obj)
    assert obj == VALID[plural]


RICH_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"a": "b"},
                 "finalizers": ["example.com/f"], "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
                 "deletionTimestamp": None, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                                 "name": "web-1", "uid": "u1", "controller": True}]},
    "spec": {"containers": [{"name": "app", "image": "nginx", "command": ["nginx"], "args": ["-g"],
                             "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}],
                             "env": [{"name": "A", "value": "1"},
                                     {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                             "resources": {"requests": {"cpu": 0.5, "memory": "64Mi"}, "limits": {"cpu": 1}},
                             "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                             "securityContext": {"privileged": False, "allowPrivilegeEscalation": False,
                                                 "runAsNonRoot": True, "runAsUser": 1000,
                                                 "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                                 "seccompProfile": {"type": "RuntimeDefault"}}}],
             "initContainers": [{"name": "init", "image": "busybox"}],
             "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                         {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}],
             "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
             "nodeName": "node-1", "serviceAccountName": "default", "restartPolicy": "Always",
             "schedulerName": "default-scheduler", "hostNetwork": False, "hostPID": False, "hostIPC": False,
             "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2]},
             "automountServiceAccountToken": False, "activeDeadlineSeconds": 60,
             "unknownField": {"anything": [1, "x"]}},
    "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
}

RICH = {
    ("pods", ""): RICH_POD,
    ("secrets", ""): {"metadata": {"name": "s"}, "data": {"a": "YQ==", "b": "YWI=\n", "c": ""},
                      "stringData": {"d": "plain"}, "type": "Opaque", "immutable": False},
    ("configmaps", ""): {"metadata": {"name": "c"}, "binaryData": {"b": "AAEC"}, "immutable": True},
    ("serviceaccounts", ""): {"metadata": {"name": "sa"}, "secrets": [{"name": "t"}],
                              "imagePullSecrets": [{"name": "r"}], "automountServiceAccountToken": True},
    ("namespaces", ""): {"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]},
                         "status": {"phase": "Active"}},
    ("nodes", ""): {"metadata": {"name": "n"}, "spec": {"unschedulable": True, "taints": [
        {"key": "k", "effect": "NoSchedule"}]}, "status": {"capacity": {"cpu": "4", "pods": 110}}},
    ("resourcequotas", ""): {"metadata": {"name": "q"}, "spec": {"hard": {"pods": 10}, "scopes": ["BestEffort"]},
                             "status": {"hard": {"pods": "10"}, "used": {"pods": "1"}}},
    ("persistentvolumeclaims", ""): {"metadata": {"name": "c"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": None,
        "volumeName": "pv1"}},
    ("clusterroles", ""): {"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}},
    ("leases", ""): {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                                        "acquireTime": "2024-01-01T00:00:00.000000Z",
                                                        "renewTime": "2024-01-01T00:00:00.000000Z",
                                                        "leaseTransitions": 2}},
    ("storageclasses", ""): {"metadata": {"name": "sc"}, "provisioner": "p", "parameters": {"type": "gp2"},
                             "allowVolumeExpansion": True},
    ("validatingwebhookconfigurations", ""): {"metadata": {"name": "w"}, "webhooks": [{
        "name": "a.example.com", "clientConfig": {"url": "https://x", "caBundle": "Y2E=",
                                                  "service": {"name": "s", "namespace": "n", "port": 443}},
        "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"],
                   "scope": "*"}], "namespaceSelector": {}, "objectSelector": {"matchLabels": {}},
        "timeoutSeconds": 5, "matchPolicy": "Equivalent", "sideEffects": "None",
        "admissionReviewVersions": ["v1"]}]},
    ("services", ""): {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "ports": [
        {"port": 80, "targetPort": "http", "nodePort": 30080}]}},
    ("deployments", "scale"): {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
                               "spec": {"replicas": 5}},
    ("pods", "binding"): {"metadata": {"name": "web"}, "target": {"kind": "Node", "name": "node-1"}},
    ("deployments", "status"): {"metadata": {"name": "web"}, "status": {"replicas": 3, "readyReplicas": 2,
                                                                        "observedGeneration": 4}},
    ("jobs", ""): {"metadata": {"name": "j"}, "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                                                       "selector": {"matchLabels": {"a": "b"}},
                                                       "template": {"spec": VALID["pods"]["spec"]}}},
}


@pytest.mark.parametrize("plural,subresource", sorted(RICH))
def test_rich_valid_objects_pass(plural, subresource):
    check_types(resource(plural), copy.deepcopy(RICH[(plural, subresource)]), subresource)


# ----- each bad case ------------------------------------------------------------------------

BAD = [
    ("pods", ("spec", "containers", "x"), "PodSpec.spec.containers of type []v1.Container"),
    ("pods", ("spec", "containers", ["x"]), "PodSpec.spec.containers of type v1.Container"),
    ("pods", ("spec", "tolerations", "x"), "PodSpec.spec.tolerations of type []v1.Toleration"),
    ("pods", ("spec", "tolerations", [{"tolerationSeconds": "300"}]),
     "Toleration.spec.tolerations.tolerationSeconds of type int64"),
    ("pods", ("metadata", "name", 5), "cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type "
                                      "string"),
    ("pods", ("metadata", "annotations", 5), "ObjectMeta.metadata.annotations of type map[string]string"),
    ("pods", ("metadata", "annotations", {"a": 5}), "ObjectMeta.metadata.annotations of type string"),
    ("pods", ("metadata", "labels", {"a": True}), "cannot unmarshal bool into Go struct field "
                                                  "ObjectMeta.metadata.labels of type string"),
    ("pods", ("metadata", "finalizers", [1]), "ObjectMeta.metadata.finalizers of type string"),
    ("pods", ("metadata", "generation", 1.5), "cannot unmarshal number 1.5 into Go struct field "
                                              "ObjectMeta.metadata.generation of type int64"),
    ("pods", ("metadata", "ownerReferences", [{"controller": "yes"}]),
     "OwnerReference.metadata.ownerReferences.controller of type bool"),
    ("pods", ("metadata", "creationTimestamp", 5), "ObjectMeta.metadata.creationTimestamp of type string"),
    ("pods", ("metadata", 5), "Go struct field Pod.metadata of type v1.ObjectMeta"),
    ("pods", ("spec", "serviceAccountName", 5), "PodSpec.spec.serviceAccountName of type string"),
    ("pods", ("spec", "hostNetwork", "true"), "PodSpec.spec.hostNetwork of type bool"),
    ("pods", ("spec", "activeDeadlineSeconds", True), "cannot unmarshal bool into Go struct field "
                                                      "PodSpec.spec.activeDeadlineSeconds of type int64"),
    ("pods", ("spec", "restartPolicy", ["Always"]), "PodSpec.spec.restartPolicy of type v1.RestartPolicy"),
    ("pods", ("spec", "containers", 0, "command", "nginx"), "Container.spec.containers.command of type []string"),
    ("pods", ("spec", "containers", 0, "ports", 0, "containerPort", "80"),
     "cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
    ("pods", ("spec", "containers", 0, "ports", 0, "containerPort", 80.0), "number 80.0 into"),
    ("pods", ("spec", "containers", 0, "ports", 0, "containerPort", 2 ** 31), "of type int32"),
    ("pods", ("spec", "containers", 0, "resources", "requests", 5),
     "ResourceRequirements.spec.containers.resources.requests of type v1.ResourceList"),
    ("pods", ("spec", "containers", 0, "resources", "limits", {"cpu": True}), "quantities must match"),
    ("pods", ("spec", "containers", 0, "resources", "limits", {"cpu": "lots"}), "quantities must match"),
    ("pods", ("spec", "containers", 0, "securityContext", {"privileged": "true"}),
     "SecurityContext.spec.containers.securityContext.privileged of type bool"),
    ("pods", ("spec", "containers", 0, "securityContext", {"capabilities": {"add": [1]}}),
     "Capabilities.spec.containers.securityContext.capabilities.add of type v1.Capability"),
    ("pods", ("spec", "containers", 0, "securityContext", {"runAsUser": "0"}), "of type int64"),
    ("pods", ("spec", "containers", 0, "securityContext", {"seccompProfile": "RuntimeDefault"}),
     "SecurityContext.spec.containers.securityContext.seccompProfile of type v1.SeccompProfile"),
    ("pods", ("spec", "volumes", {}), "PodSpec.spec.volumes of type []v1.Volume"),
    ("pods", ("spec", "affinity", 5), "PodSpec.spec.affinity of type v1.Affinity"),
    ("pods", ("spec", "containers", 0, "env", [{"name": "A", "valueFrom": {"secretKeyRef": {"key": 1}}}]),
     "SecretKeySelector.spec.containers.env.valueFrom.secretKeyRef.key of type string"),
    ("pods", ("spec", "ephemeralContainers", [{"name": 1}]),
     "EphemeralContainer.spec.ephemeralContainers.name of type string"),
    ("pods", ("status", 5), "Pod.status of type v1.PodStatus"),
    ("pods", ("status", {"phase": 1}), "PodStatus.status.phase of type v1.PodPhase"),
    ("deployments", ("spec", "replicas", "3"), "DeploymentSpec.spec.replicas of type int32"),
    ("deployments", ("spec", "selector", {"matchLabels": []}),
     "LabelSelector.spec.selector.matchLabels of type map[string]string"),
    ("deployments", ("spec", "selector", {"matchExpressions": [{"key": "a", "operator": "In", "values": "b"}]}),
     "LabelSelectorRequirement.spec.selector.matchExpressions.values of type []string"),
    ("deployments", ("spec", "template", "spec", "containers", 0, "image", 1),
     "Container.spec.template.spec.containers.image of type string"),
    ("deployments", ("spec", "strategy", "rollingUpdate", "maxSurge", 1.5),
     "number 1.5 into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"),
    ("deployments", ("spec", "minReadySeconds", "5"), "DeploymentSpec.spec.minReadySeconds of type int32"),
    ("deployments", ("status", {"replicas": "1"}), "DeploymentStatus.status.replicas of type int32"),
    ("replicasets", ("spec", "template", 5), "ReplicaSetSpec.spec.template of type v1.PodTemplateSpec"),
    ("jobs", ("spec", "backoffLimit", "6"), "JobSpec.spec.backoffLimit of type int32"),
    ("jobs", ("spec", "completions", 2.5), "JobSpec.spec.completions of type int32"),
    ("services", ("spec", "ports", 0, "targetPort", True), "cannot unmarshal bool into Go struct field "
                                                           "ServicePort.spec.ports.targetPort of type int32"),
    ("services", ("spec", "ports", 0, "port", "80"), "ServicePort.spec.ports.port of type int32"),
    ("services", ("spec", "selector", ["app"]), "ServiceSpec.spec.selector of type map[string]string"),
    ("services", ("spec", "type", 1), "ServiceSpec.spec.type of type v1.ServiceType"),
    ("configmaps", ("data", 5), "Go struct field ConfigMap.data of type map[string]string"),
    ("configmaps", ("data", {"a": 1}), "ConfigMap.data of type string"),
    ("configmaps", ("immutable", "yes"), "ConfigMap.immutable of type bool"),
    ("configmaps", ("binaryData", {"a": "!"}), "illegal base64 data at input byte 0"),
    ("secrets", ("data", {"a": "not base64"}), "illegal base64 data at input byte 3"),
    ("secrets", ("data", {"a": "YQ"}), "illegal base64 data at input byte 0"),
    ("secrets", ("data", {"a": 5}), "Secret.data of type []uint8"),
    ("secrets", ("stringData", {"a": 5}), "Secret.stringData of type string"),
    ("secrets", ("type", 5), "Secret.type of type v1.SecretType"),
    ("serviceaccounts", ("secrets", "t"), "ServiceAccount.secrets of type []v1.ObjectReference"),
    ("serviceaccounts", ("automountServiceAccountToken", "false"), "ServiceAccount.automountServiceAccountToken"),
    ("namespaces", ("spec", {"finalizers": "kubernetes"}), "NamespaceSpec.spec.finalizers of type []v1.FinalizerName"),
    ("namespaces", ("status", {"phase": 1}), "NamespaceStatus.status.phase of type v1.NamespacePhase"),
    ("nodes", ("spec", {"unschedulable": "yes"}), "NodeSpec.spec.unschedulable of type bool"),
    ("resourcequotas", ("spec", "hard", 5), "ResourceQuotaSpec.spec.hard of type v1.ResourceList"),
    ("resourcequotas", ("spec", "scopes", "BestEffort"), "ResourceQuotaSpec.spec.scopes"),
    ("resourcequotas", ("status", {"used": {"pods": []}}), "quantities must match"),
    ("limitranges", ("spec", "limits", 5), "LimitRangeSpec.spec.limits of type []v1.LimitRangeItem"),
    ("limitranges", ("spec", "limits", 0, "type", 1), "LimitRangeItem.spec.limits.type of type v1.LimitType"),
    ("limitranges", ("spec", "limits", 0, "max", "1"), "LimitRangeItem.spec.limits.max of type v1.ResourceList"),
    ("persistentvolumes", ("spec", "accessModes", "ReadWriteOnce"),
     "PersistentVolumeSpec.spec.accessModes of type []v1.PersistentVolumeAccessMode"),
    ("persistentvolumes", ("spec", "capacity", {"storage": {}}), "quantities must match"),
    ("persistentvolumeclaims", ("spec", "storageClassName", 5),
     "PersistentVolumeClaimSpec.spec.storageClassName of type string"),
    ("persistentvolumeclaims", ("spec", "resources", "requests", 5),
     "VolumeResourceRequirements.spec.resources.requests of type v1.ResourceList"),
    ("persistentvolumeclaims", ("spec", "volumeName", False), "PersistentVolumeClaimSpec.spec.volumeName"),
    ("roles", ("rules", 5), "Role.rules of type []v1.PolicyRule"),
    ("roles", ("rules", 0, "verbs", "get"), "PolicyRule.rules.verbs of type []string"),
    ("clusterroles", ("aggregationRule", {"clusterRoleSelectors": {}}),
     "AggregationRule.aggregationRule.clusterRoleSelectors of type []v1.LabelSelector"),
    ("rolebindings", ("subjects", 5), "RoleBinding.subjects of type []v1.Subject"),
    ("rolebindings", ("subjects", 0, "name", 5), "Subject.subjects.name of type string"),
    ("clusterrolebindings", ("roleRef", "admin"), "ClusterRoleBinding.roleRef of type v1.RoleRef"),
    ("leases", ("spec", "leaseDurationSeconds", "15"), "LeaseSpec.spec.leaseDurationSeconds of type int32"),
    ("leases", ("spec", "holderIdentity", 1), "LeaseSpec.spec.holderIdentity of type string"),
    ("leases", ("spec", "renewTime", 1), "LeaseSpec.spec.renewTime of type string"),
    ("storageclasses", ("provisioner", 5), "StorageClass.provisioner of type string"),
    ("storageclasses", ("parameters", {"a": 1}), "StorageClass.parameters of type string"),
    ("storageclasses", ("allowVolumeExpansion", "true"), "StorageClass.allowVolumeExpansion of type bool"),
    ("mutatingwebhookconfigurations", ("webhooks", 5),
     "MutatingWebhookConfiguration.webhooks of type []v1.MutatingWebhook"),
    ("mutatingwebhookconfigurations", ("webhooks", 0, "timeoutSeconds", "5"),
     "MutatingWebhook.webhooks.timeoutSeconds of type int32"),
    ("mutatingwebhookconfigurations", ("webhooks", 0, "reinvocationPolicy", 1),
     "MutatingWebhook.webhooks.reinvocationPolicy of type v1.ReinvocationPolicyType"),
    ("validatingwebhookconfigurations", ("webhooks", 0, "clientConfig", "service", "port", "443"),
     "ServiceReference.webhooks.clientConfig.service.port of type int32"),
    ("validatingwebhookconfigurations", ("webhooks", 0, "clientConfig", "caBundle", "%%"),
     "illegal base64 data at input byte 0"),
    ("validatingwebhookconfigurations", ("webhooks", 0, "rules", 0, "scope", 1),
     "RuleWithOperations.webhooks.rules.scope of type v1.ScopeType"),
    ("validatingwebhookconfigurations", ("webhooks", 0, "namespaceSelector", []),
     "ValidatingWebhook.webhooks.namespaceSelector of type v1.LabelSelector"),
    ("validatingwebhookconfigurations", ("webhooks", 0, "admissionReviewVersions", "v1"),
     "ValidatingWebhook.webhooks.admissionReviewVersions of type []string"),
]


@pytest.mark.parametrize("plural,change,expected", BAD, ids=[f"{p}-{'.'.join(map(str, c[:-1]))}" for p, c, _ in BAD])
def test_each_wrong_type_is_a_400_naming_the_field(plural, change, expected):
    message = refusal(plural, with_change(plural, *change))
    kind = resource(plural).kind
    assert message.startswith(f'{kind} in version "v1" cannot be handled as a {kind}: ')
    assert expected in message


def test_the_whole_message_has_kubes_shape():
    message = refusal("pods", with_change("pods", "spec", "containers", "x"))
    assert message == ('Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go '
                       'struct field PodSpec.spec.containers of type []v1.Container')


def test_a_body_that_is_not_an_object():
    assert refusal("pods", []).endswith("json: cannot unmarshal array into Go value of type v1.Pod")


def test_type_meta_is_read_first():
    message = refusal("pods", {**VALID["pods"], "kind": 5})
    assert message == ("the object provided is unrecognized (must be of type Pod): couldn't get version/kind; "
                       "json parse error: json: cannot unmarshal number into Go struct field .kind of type string")


def test_the_first_wrong_field_in_document_order_is_named():
    body = {"metadata": {"name": "x"}, "spec": {"nodeName": 1, "containers": "x"}}
    assert "spec.nodeName" in refusal("pods", body)
    body = {"metadata": {"name": "x"}, "spec": {"containers": "x", "nodeName": 1}}
    assert "spec.containers" in refusal("pods", body)


def test_subresource_bodies():
    scale = {"metadata": {"name": "web"}, "spec": {"replicas": "5"}}
    assert refusal("deployments", scale, "scale") == (
        'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field '
        'ScaleSpec.spec.replicas of type int32')
    assert "Binding.target of type v1.ObjectReference" in refusal("pods", {"target": "node-1"}, "binding")
    assert "ObjectReference.target.name of type string" in refusal("pods", {"target": {"name": 1}}, "binding")
    assert "PodStatus.status.phase" in refusal("pods", {"status": {"phase": 1}}, "status")


# ----- what is accepted -----------------------------------------------------------------------

def test_unknown_fields_are_kept_and_not_looked_into():
    obj = with_change("pods", "spec", "notAField", {"containers": "x"})
    obj["Spec"] = 5  # field names are case-sensitive: an unknown field
    check_types(resource("pods"), obj)
    assert obj["spec"]["notAField"] == {"containers": "x"}
    assert obj["Spec"] == 5


def test_nulls_become_go_zero_values():
    obj = copy.deepcopy(VALID["pods"])
    obj["spec"].update(nodeName=None, tolerations=None, containers=[None, *obj["spec"]["containers"]])
    obj["metadata"]["labels"] = {"a": None}
    obj["metadata"]["finalizers"] = [None]
    obj["spec"]["containers"][1]["resources"]["limits"]["cpu"] = None
    check_types(resource("pods"), obj)
    assert "nodeName" not in obj["spec"] and "tolerations" not in obj["spec"]
    assert obj["spec"]["containers"][0] == {}  # a zero Container; validation then wants its name (422)
    assert obj["metadata"]["labels"] == {"a": ""}
    assert obj["metadata"]["finalizers"] == [""]
    assert obj["spec"]["containers"][1]["resources"]["limits"]["cpu"] == "0"


def test_numbers_ints_and_quantities():
    ok = with_change("pods", "spec", "containers", 0, "resources", "requests", {"cpu": 1, "memory": 1.5e9})
    check_types(resource("pods"), ok)
    for integral_float in (1.0, 1e3):  # Go's ParseInt refuses both literals
        assert "of type int64" in refusal("pods", with_change("pods", "spec", "activeDeadlineSeconds", integral_float))
    check_types(resource("pods"), with_change("pods", "spec", "activeDeadlineSeconds", 2 ** 63 - 1))
    assert "of type int64" in refusal("pods", with_change("pods", "spec", "activeDeadlineSeconds", 2 ** 63))
    check_types(resource("services"), with_change("services", "spec", "ports", 0, "targetPort", "http"))
    assert "of type int32" in refusal("services", with_change("services", "spec", "ports", 0, "targetPort", {}))


@pytest.mark.parametrize("text,good", [("", True), ("YQ==", True), ("YWI=", True), ("YWJj", True),
                                       ("YWJj\r\nZA==", True), ("YQ", False), ("Y===", False), ("YQ==YQ==", False),
                                       ("Y Q==", False), ("-_==", False)])
def test_base64_as_go_decodes_it(text, good):
    obj = with_change("secrets", "data", {"k": text})
    if good:
        check_types(resource("secrets"), obj)
    else:
        assert "illegal base64 data at input byte" in refusal("secrets", obj)


# ----- DeleteOptions ------------------------------------------------------------------------

def test_delete_options():
    check_delete_options({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                          "propagationPolicy": "Foreground", "preconditions": {"uid": "u", "resourceVersion": "5"},
                          "orphanDependents": False, "dryRun": ["All"]})
    check_delete_options({"gracePeriodSeconds": None})
    cases = [({"gracePeriodSeconds": "30"}, "DeleteOptions.gracePeriodSeconds of type int64"),
             ({"dryRun": "All"}, "DeleteOptions.dryRun of type []string"),
             ({"propagationPolicy": 1}, "DeleteOptions.propagationPolicy of type v1.DeletionPropagation"),
             ({"preconditions": {"uid": 1}}, "Preconditions.preconditions.uid of type types.UID"),
             ({"orphanDependents": "true"}, "DeleteOptions.orphanDependents of type bool"),
             ("x", "into Go value of type v1.DeleteOptions")]
    for body, expected in cases:
        with pytest.raises(ApiError) as caught:
            check_delete_options(body)
        assert caught.value.code == 400
        assert caught.value.message.startswith("json: cannot unmarshal ")
        assert caught.value.message.endswith(expected)


# ----- the property -------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False)
                    | st.text(max_size=6) | st.sampled_from(["YQ==", "1Gi", "500m", "http"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=8)
PROPERTY_KINDS = {"pods": RICH_POD, "deployments": VALID["deployments"],
                  "mutatingwebhookconfigurations": VALID["mutatingwebhookconfigurations"],
                  "validatingwebhookconfigurations": RICH[("validatingwebhookconfigurations", "")]}


def paths_of(value, prefix=()):
    """Every path to a node of a (small, test-owned) JSON value."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths_of(child, prefix + (key,))


def _at(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def replaced(obj, path, value):
    if not path:
        return value
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def conforms(go_type, value):
    """The table, read independently of the walker: is this decoded value of this Go type?"""
    if value is None:
        return False  # nulls are gone after decoding
    if isinstance(go_type, Struct):
        return isinstance(value, dict) and all(conforms(go_type.fields[k], v) for k, v in value.items()
                                               if k in go_type.fields)
    if isinstance(go_type, ListOf):
        return isinstance(value, list) and all(conforms(go_type.item, v) for v in value)
    if isinstance(go_type, MapOf):
        return isinstance(value, dict) and all(isinstance(k, str) and conforms(go_type.value, v)
                                               for k, v in value.items())
    return scalar_conforms(go_type, value)


def scalar_conforms(scalar: Scalar, value):
    is_int = isinstance(value, int) and not isinstance(value, bool)
    bits = 64 if scalar.json == "int64" else 32
    return {"string": isinstance(value, str), "bytes": isinstance(value, str), "bool": isinstance(value, bool),
            "int32": is_int and -2 ** 31 <= value < 2 ** 31, "int64": is_int and -2 ** 63 <= value < 2 ** 63,
            "int-or-string": isinstance(value, str) or (is_int and -2 ** (bits - 1) <= value < 2 ** (bits - 1)),
            "quantity": isinstance(value, (str, int, float)) and not isinstance(value, bool)}[scalar.json]


@st.composite
def substituted(draw):
    plural = draw(st.sampled_from(sorted(PROPERTY_KINDS)))
    example = PROPERTY_KINDS[plural]
    paths = list(paths_of(example))
    leaves = [path for path in paths if not isinstance(_at(example, path), (dict, list))]
    path = draw(st.sampled_from(leaves) | st.sampled_from(paths))  # leaves often: most typed fields are there
    if draw(st.booleans()) and path and isinstance(path[-1], str):  # a sibling key, maybe a known field
        table_keys = ["spec", "status", "metadata", "webhooks", "tolerations", "securityContext", "replicas",
                      "selector", "template", "labels", "rules", "clientConfig", "timeoutSeconds", "caBundle"]
        path = path[:-1] + (draw(st.sampled_from(table_keys)),)
    return plural, path, draw(JSON)


@given(substituted())
def test_any_value_anywhere_is_accepted_conforming_or_refused_with_400(case):
    plural, path, value = case
    obj = replaced(PROPERTY_KINDS[plural], path, copy.deepcopy(value))
    note(f"{plural} {path!r} = {json.dumps(value)}")
    try:
        check_types(resource(plural), obj)
    except ApiError as error:
        event("refused")
        assert error.code == 400
        return
    event("accepted")
    assert conforms(KIND_TABLES[resource(plural).kind], obj)


@given(st.sampled_from(sorted(VALID)), JSON)
def test_any_body_for_any_kind_is_accepted_or_refused_with_400(plural, body):
    try:
        check_types(resource(plural), body)
    except ApiError as error:
        assert error.code == 400
        return
    assert conforms(KIND_TABLES[resource(plural).kind], body)


@given(st.sampled_from(sorted(SUBRESOURCE_TABLES)), JSON)
def test_any_subresource_or_delete_body_is_accepted_or_refused_with_400(subresource, body):
    for check, table in ((lambda b: check_types(resource("pods"), b, subresource), SUBRESOURCE_TABLES[subresource]),
                         (check_delete_options, DELETE_OPTIONS)):
        candidate = copy.deepcopy(body)
        try:
            check(candidate)
        except ApiError as error:
            assert error.code == 400
            continue
        assert conforms(table, candidate)


REPRESENTATIVES = [None, True, 0, -1, 1.5, 1.0, 2 ** 40, 2 ** 70, "", "x", "YQ==", "1Gi", [], [None], ["x"], {},
                   {"a": None}, {"a": 1}]


def accepted_conforming_or_400(plural, obj):
    try:
        check_types(resource(plural), obj)
    except ApiError as error:
        assert error.code == 400
        return "refused"
    assert conforms(KIND_TABLES[resource(plural).kind], obj), obj
    return "accepted"


@pytest.mark.parametrize("plural", sorted(PROPERTY_KINDS))
def test_every_representative_value_at_every_path(plural):
    """The exhaustive sweep beside the random property: each node of the example, each kind of value."""
    example = PROPERTY_KINDS[plural]
    outcomes = {accepted_conforming_or_400(plural, replaced(example, path, copy.deepcopy(value)))
                for path in list(paths_of(example))[1:] for value in REPRESENTATIVES}
    assert outcomes == {"refused", "accepted"}
