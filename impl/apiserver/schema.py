"""Decode-time type checks: a request body refused with 400 BadRequest where kube-apiserver's JSON
decoder would refuse it, before any admission plugin sees it.

kube-apiserver decodes a body into typed Go structs (k8s.io/apimachinery
``runtime/serializer/json``, ``sigs.k8s.io/json``, which is Go's ``encoding/json`` made
case-sensitive). A value of the wrong JSON type is refused there, and the create/update handlers
wrap the error (``transformDecodeError`` in k8s.io/apiserver ``endpoints/handlers/rest.go``)::

    Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct
    field PodSpec.spec.containers of type []v1.Container

``Go struct field S.p`` names the innermost struct ``S`` and the path ``p`` of JSON field names
from the top (list indices and map keys are not in it); the type is the Go type of the target
with pointers removed. This module keeps one table of field types per served kind, built from
reusable structs (ObjectMeta, LabelSelector, Container, PodSpec, ...), and one walker.

What the decoder does, and so what ``check_types`` does:

- Unknown fields are allowed: Go drops them (kube only warns about them unless the request asks
  for ``fieldValidation=Strict``). Here they are kept untouched and not looked into, since the
  tables cover only the fields the reference and its admission plugins read. Field names are
  case-sensitive (``Spec`` is an unknown field, not ``spec``).
- ``null`` is never a type error: Go leaves the zero value (nil for pointers, slices, maps). So a
  ``null`` field is removed (absent, as Go re-encodes a zero ``omitempty`` field), and a ``null``
  list element or map value becomes the element's zero value in place: ``containers: [null]``
  becomes ``[{}]`` (Go decodes a zero Container, which validation then refuses with 422 for its
  missing name), ``labels: {"a": null}`` becomes ``{"a": ""}``, a null quantity ``"0"``.
- Integers must be JSON integer literals within the Go type's range: Go's decoder refuses ``1.5``
  and also ``1.0`` and ``1e3`` for an ``int32``/``int64`` (``strconv.ParseInt`` of the literal),
  and ``true`` is a bool, never a number. Python's ``json`` reads ``1.0`` and ``1e3`` as floats,
  so both are refused, as in Go (the message shows Python's spelling of the number).
- ``intstr.IntOrString`` (``targetPort``, ``maxSurge``) takes a string or an ``int32``; anything
  else is refused as Go's nested decode into ``int32`` is (``... of type int32``).
- ``resource.Quantity`` takes a string or a number and is parsed at decode time: a malformed
  quantity (``"lots"``, ``true``, ``{}``) is a 400 with the quantity grammar message, no field path.
- ``[]byte`` (Secret ``data``, ConfigMap ``binaryData``, webhook ``caBundle``) must be a string
  of standard base64 (padded; CR and LF ignored); otherwise ``illegal base64 data at input byte N``.
- The first wrong field in document order is reported (the decoder stops at the first error).
- Time fields (``metav1.Time``/``MicroTime``) are checked as strings only; the RFC 3339 parse the
  decoder also does is not replicated.

Sources: Go ``encoding/json`` (``UnmarshalTypeError``, ``decodeState.addErrorContext``),
k8s.io/apimachinery ``pkg/util/intstr``, ``pkg/api/resource/quantity.go``, the k8s.io/api types,
and ``endpoints/handlers/delete.go`` (DeleteOptions: the bare decode error, 400).
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

import attrs

from impl.apiserver.quantity import QUANTITY_FORMAT_MESSAGE, parse_quantity
from impl.apiserver.resources import ResourceType
from impl.apiserver.status import ApiError

__all__ = ["check_types", "check_delete_options", "Scalar", "Struct", "ListOf", "MapOf", "GoType",
           "KIND_TABLES", "SUBRESOURCE_TABLES", "DELETE_OPTIONS", "zero_value"]

INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


# ---------------------------------------------------------------------------------------------
# Types: a Go type as the decoder sees it. ``go`` is how its error message spells the type.

@attrs.frozen
class Scalar:
    """A leaf. ``json`` is one of: string, int32, int64, bool, int-or-string, quantity, bytes."""
    json: str
    go: str


@attrs.frozen(hash=False)
class Struct:
    go: str  # "v1.PodSpec"; the struct's name in messages is the part after the dot
    fields: Mapping[str, "GoType"]

    @property
    def name(self) -> str:
        return self.go.rpartition(".")[2]


@attrs.frozen
class ListOf:
    item: "GoType"

    @property
    def go(self) -> str:
        return "[]" + self.item.go


@attrs.frozen
class MapOf:
    value: "GoType"
    go: str = "map[string]string"


GoType = Scalar | Struct | ListOf | MapOf


def named(go: str) -> Scalar:
    """A named string type (``v1.RestartPolicy``): a string under another name."""
    return Scalar("string", go)


STRING = named("string")
TIME = STRING  # metav1.Time's UnmarshalJSON decodes a string first: errors say "of type string"
UID = named("types.UID")
INT32 = Scalar("int32", "int32")
INT64 = Scalar("int64", "int64")
BOOL = Scalar("bool", "bool")
INT_OR_STRING = Scalar("int-or-string", "int32")  # IntOrString decodes non-strings into an int32
QUANTITY = Scalar("quantity", "resource.Quantity")
BYTES = Scalar("bytes", "[]uint8")
STRINGS = ListOf(STRING)
STRING_MAP = MapOf(STRING)
RESOURCE_LIST = MapOf(QUANTITY, "v1.ResourceList")


def struct(go: str, **fields: GoType) -> Struct:
    return Struct(go, fields)


def opaque(go: str) -> Struct:
    """An object whose inside the reference never reads: only its JSON type is checked."""
    return Struct(go, {})


def strings_of(go: str) -> ListOf:
    return ListOf(named(go))


# ---------------------------------------------------------------------------------------------
# Shared structs.

OWNER_REFERENCE = struct("v1.OwnerReference", apiVersion=STRING, kind=STRING, name=STRING, uid=UID,
                         controller=BOOL, blockOwnerDeletion=BOOL)
OBJECT_META = struct(
    "v1.ObjectMeta", name=STRING, generateName=STRING, namespace=STRING, selfLink=STRING, uid=UID,
    resourceVersion=STRING, generation=INT64, creationTimestamp=TIME, deletionTimestamp=TIME,
    deletionGracePeriodSeconds=INT64, labels=STRING_MAP, annotations=STRING_MAP,
    ownerReferences=ListOf(OWNER_REFERENCE), finalizers=STRINGS, managedFields=ListOf(opaque("v1.ManagedFieldsEntry")))
LABEL_SELECTOR = struct(
    "v1.LabelSelector", matchLabels=STRING_MAP,
    matchExpressions=ListOf(struct("v1.LabelSelectorRequirement", key=STRING,
                                   operator=named("v1.LabelSelectorOperator"), values=STRINGS)))
OBJECT_REFERENCE = struct("v1.ObjectReference", kind=STRING, namespace=STRING, name=STRING, uid=UID,
                          apiVersion=STRING, resourceVersion=STRING, fieldPath=STRING)
LOCAL_OBJECT_REFERENCE = struct("v1.LocalObjectReference", name=STRING)
CONDITION_FIELDS = dict(type=STRING, status=STRING, reason=STRING, message=STRING, lastTransitionTime=TIME,
                        lastProbeTime=TIME, lastUpdateTime=TIME, lastHeartbeatTime=TIME, observedGeneration=INT64)


def conditions(go: str) -> ListOf:
    return ListOf(Struct(go, CONDITION_FIELDS))


SECCOMP_PROFILE = struct("v1.SeccompProfile", type=named("v1.SeccompProfileType"), localhostProfile=STRING)
SECURITY_CONTEXT = struct(
    "v1.SecurityContext",
    capabilities=struct("v1.Capabilities", add=strings_of("v1.Capability"), drop=strings_of("v1.Capability")),
    privileged=BOOL, runAsUser=INT64, runAsGroup=INT64, runAsNonRoot=BOOL, readOnlyRootFilesystem=BOOL,
    allowPrivilegeEscalation=BOOL, procMount=named("v1.ProcMountType"), seccompProfile=SECCOMP_PROFILE,
    seLinuxOptions=opaque("v1.SELinuxOptions"),
    windowsOptions=opaque("v1.WindowsSecurityContextOptions"), appArmorProfile=opaque("v1.AppArmorProfile"))
ENV_VAR = struct("v1.EnvVar", name=STRING, value=STRING, valueFrom=struct(
    "v1.EnvVarSource", secretKeyRef=struct("v1.SecretKeySelector", name=STRING, key=STRING, optional=BOOL),
    configMapKeyRef=struct("v1.ConfigMapKeySelector", name=STRING, key=STRING, optional=BOOL),
    fieldRef=opaque("v1.ObjectFieldSelector"), resourceFieldRef=opaque("v1.ResourceFieldSelector")))
ENV_FROM = struct("v1.EnvFromSource", prefix=STRING,
                  secretRef=struct("v1.SecretEnvSource", name=STRING, optional=BOOL),
                  configMapRef=struct("v1.ConfigMapEnvSource", name=STRING, optional=BOOL))
CONTAINER_FIELDS: dict[str, GoType] = dict(
    name=STRING, image=STRING, command=STRINGS, args=STRINGS, workingDir=STRING,
    ports=ListOf(struct("v1.ContainerPort", name=STRING, hostPort=INT32, containerPort=INT32,
                        protocol=named("v1.Protocol"), hostIP=STRING)),
    env=ListOf(ENV_VAR), envFrom=ListOf(ENV_FROM),
    resources=struct("v1.ResourceRequirements", limits=RESOURCE_LIST, requests=RESOURCE_LIST),
    volumeMounts=ListOf(struct("v1.VolumeMount", name=STRING, readOnly=BOOL, mountPath=STRING, subPath=STRING)),
    imagePullPolicy=named("v1.PullPolicy"), securityContext=SECURITY_CONTEXT,
    restartPolicy=named("v1.ContainerRestartPolicy"), livenessProbe=opaque("v1.Probe"),
    readinessProbe=opaque("v1.Probe"), startupProbe=opaque("v1.Probe"), lifecycle=opaque("v1.Lifecycle"),
    terminationMessagePath=STRING, stdin=BOOL, tty=BOOL)
CONTAINER = Struct("v1.Container", CONTAINER_FIELDS)
EPHEMERAL_CONTAINER = Struct("v1.EphemeralContainer", {**CONTAINER_FIELDS, "targetContainerName": STRING})

SECRET_PROJECTION = struct("v1.SecretProjection", name=STRING, optional=BOOL)
VOLUME = struct(
    "v1.Volume", name=STRING,
    hostPath=struct("v1.HostPathVolumeSource", path=STRING, type=named("v1.HostPathType")),
    emptyDir=struct("v1.EmptyDirVolumeSource", medium=named("v1.StorageMedium"), sizeLimit=QUANTITY),
    secret=struct("v1.SecretVolumeSource", secretName=STRING, defaultMode=INT32, optional=BOOL),
    configMap=struct("v1.ConfigMapVolumeSource", name=STRING, defaultMode=INT32, optional=BOOL),
    persistentVolumeClaim=struct("v1.PersistentVolumeClaimVolumeSource", claimName=STRING, readOnly=BOOL),
    projected=struct("v1.ProjectedVolumeSource", defaultMode=INT32, sources=ListOf(struct(
        "v1.VolumeProjection", secret=SECRET_PROJECTION, configMap=opaque("v1.ConfigMapProjection"),
        downwardAPI=opaque("v1.DownwardAPIProjection"),
        serviceAccountToken=struct("v1.ServiceAccountTokenProjection", audience=STRING,
                                   expirationSeconds=INT64, path=STRING)))))
TOLERATION = struct("v1.Toleration", key=STRING, operator=named("v1.TolerationOperator"), value=STRING,
                    effect=named("v1.TaintEffect"), tolerationSeconds=INT64)
POD_SECURITY_CONTEXT = struct(
    "v1.PodSecurityContext", runAsUser=INT64, runAsGroup=INT64, runAsNonRoot=BOOL, fsGroup=INT64,
    supplementalGroups=ListOf(INT64), seccompProfile=SECCOMP_PROFILE, seLinuxOptions=opaque("v1.SELinuxOptions"),
    windowsOptions=opaque("v1.WindowsSecurityContextOptions"), appArmorProfile=opaque("v1.AppArmorProfile"),
    fsGroupChangePolicy=named("v1.PodFSGroupChangePolicy"),
    sysctls=ListOf(struct("v1.Sysctl", name=STRING, value=STRING)))
POD_SPEC = struct(
    "v1.PodSpec", volumes=ListOf(VOLUME), initContainers=ListOf(CONTAINER), containers=ListOf(CONTAINER),
    ephemeralContainers=ListOf(EPHEMERAL_CONTAINER), restartPolicy=named("v1.RestartPolicy"),
    terminationGracePeriodSeconds=INT64, activeDeadlineSeconds=INT64, dnsPolicy=named("v1.DNSPolicy"),
    nodeSelector=STRING_MAP, serviceAccountName=STRING, serviceAccount=STRING,
    automountServiceAccountToken=BOOL, nodeName=STRING, hostNetwork=BOOL, hostPID=BOOL, hostIPC=BOOL,
    shareProcessNamespace=BOOL, securityContext=POD_SECURITY_CONTEXT,
    imagePullSecrets=ListOf(LOCAL_OBJECT_REFERENCE), hostname=STRING, subdomain=STRING, affinity=opaque("v1.Affinity"),
    schedulerName=STRING, tolerations=ListOf(TOLERATION), priorityClassName=STRING, priority=INT32,
    overhead=RESOURCE_LIST, enableServiceLinks=BOOL, runtimeClassName=STRING,
    os=struct("v1.PodOS", name=named("v1.OSName")),
    schedulingGates=ListOf(struct("v1.PodSchedulingGate", name=STRING)))
POD_STATUS = struct(
    "v1.PodStatus", phase=named("v1.PodPhase"), conditions=conditions("v1.PodCondition"), message=STRING,
    reason=STRING, nominatedNodeName=STRING, hostIP=STRING, podIP=STRING,
    podIPs=ListOf(struct("v1.PodIP", ip=STRING)), startTime=TIME, qosClass=named("v1.PodQOSClass"),
    containerStatuses=ListOf(struct("v1.ContainerStatus", name=STRING, ready=BOOL, restartCount=INT32,
                                    image=STRING, imageID=STRING, containerID=STRING, started=BOOL,
                                    state=opaque("v1.ContainerState"),
                                    lastState=opaque("v1.ContainerState"))))
POD_TEMPLATE = struct("v1.PodTemplateSpec", metadata=OBJECT_META, spec=POD_SPEC)


# ---------------------------------------------------------------------------------------------
# One table per served kind (the struct of the whole object; TypeMeta is checked apart).

def kind(go: str, **fields: GoType) -> Struct:
    return Struct(go, {"metadata": OBJECT_META, **fields})


def _workload_status(go: str, *counts: str) -> Struct:
    return Struct(go, {**{count: INT32 for count in counts}, "observedGeneration": INT64,
                       "conditions": conditions(go.replace("Status", "Condition"))})


_REPLICA_COUNTS = ("replicas", "readyReplicas", "availableReplicas")
WEBHOOK_FIELDS: dict[str, GoType] = dict(
    name=STRING,
    clientConfig=struct("v1.WebhookClientConfig", url=STRING, caBundle=BYTES, service=struct(
        "v1.ServiceReference", namespace=STRING, name=STRING, path=STRING, port=INT32)),
    rules=ListOf(struct("v1.RuleWithOperations", operations=strings_of("v1.OperationType"), apiGroups=STRINGS,
                        apiVersions=STRINGS, resources=STRINGS, scope=named("v1.ScopeType"))),
    failurePolicy=named("v1.FailurePolicyType"), matchPolicy=named("v1.MatchPolicyType"),
    namespaceSelector=LABEL_SELECTOR, objectSelector=LABEL_SELECTOR, sideEffects=named("v1.SideEffectClass"),
    timeoutSeconds=INT32, admissionReviewVersions=STRINGS,
    matchConditions=ListOf(struct("v1.MatchCondition", name=STRING, expression=STRING)))
RBAC_RULES = ListOf(struct("v1.PolicyRule", verbs=STRINGS, apiGroups=STRINGS, resources=STRINGS,
                           resourceNames=STRINGS, nonResourceURLs=STRINGS))
RBAC_BINDING = dict(subjects=ListOf(struct("v1.Subject", kind=STRING, apiGroup=STRING, name=STRING,
                                           namespace=STRING)),
                    roleRef=struct("v1.RoleRef", apiGroup=STRING, kind=STRING, name=STRING))
ACCESS_MODES = strings_of("v1.PersistentVolumeAccessMode")

KIND_TABLES: dict[str, Struct] = {
    "Pod": kind("v1.Pod", spec=POD_SPEC, status=POD_STATUS),
    "Deployment": kind(
        "v1.Deployment",
        spec=struct("v1.DeploymentSpec", replicas=INT32, selector=LABEL_SELECTOR, template=POD_TEMPLATE,
                    strategy=struct("v1.DeploymentStrategy", type=named("v1.DeploymentStrategyType"),
                                    rollingUpdate=struct("v1.RollingUpdateDeployment", maxUnavailable=INT_OR_STRING,
                                                         maxSurge=INT_OR_STRING)),
                    minReadySeconds=INT32, revisionHistoryLimit=INT32, paused=BOOL, progressDeadlineSeconds=INT32),
        status=_workload_status("v1.DeploymentStatus", *_REPLICA_COUNTS, "updatedReplicas", "unavailableReplicas",
                                "terminatingReplicas", "collisionCount")),
    "ReplicaSet": kind(
        "v1.ReplicaSet",
        spec=struct("v1.ReplicaSetSpec", replicas=INT32, minReadySeconds=INT32, selector=LABEL_SELECTOR,
                    template=POD_TEMPLATE),
        status=_workload_status("v1.ReplicaSetStatus", *_REPLICA_COUNTS, "fullyLabeledReplicas",
                                "terminatingReplicas")),
    "Job": kind(
        "v1.Job",
        spec=struct("v1.JobSpec", parallelism=INT32, completions=INT32, activeDeadlineSeconds=INT64,
                    backoffLimit=INT32, backoffLimitPerIndex=INT32, maxFailedIndexes=INT32, selector=LABEL_SELECTOR,
                    manualSelector=BOOL, template=POD_TEMPLATE, ttlSecondsAfterFinished=INT32,
                    completionMode=named("v1.CompletionMode"), suspend=BOOL,
                    podFailurePolicy=opaque("v1.PodFailurePolicy")),
        status=struct("v1.JobStatus", conditions=conditions("v1.JobCondition"), startTime=TIME,
                      completionTime=TIME, active=INT32, succeeded=INT32, failed=INT32, terminating=INT32,
                      ready=INT32, completedIndexes=STRING, failedIndexes=STRING,
                      uncountedTerminatedPods=opaque("v1.UncountedTerminatedPods"))),
    "Service": kind(
        "v1.Service",
        spec=struct("v1.ServiceSpec", ports=ListOf(struct(
            "v1.ServicePort", name=STRING, protocol=named("v1.Protocol"), appProtocol=STRING, port=INT32,
            targetPort=INT_OR_STRING, nodePort=INT32)),
            selector=STRING_MAP, clusterIP=STRING, clusterIPs=STRINGS, type=named("v1.ServiceType"),
            externalIPs=STRINGS, sessionAffinity=named("v1.ServiceAffinity"), loadBalancerIP=STRING,
            externalName=STRING, healthCheckNodePort=INT32, publishNotReadyAddresses=BOOL,
            ipFamilies=strings_of("v1.IPFamily"), allocateLoadBalancerNodePorts=BOOL, loadBalancerClass=STRING,
            externalTrafficPolicy=named("v1.ServiceExternalTrafficPolicy"),
            internalTrafficPolicy=named("v1.ServiceInternalTrafficPolicy")),
        status=struct("v1.ServiceStatus", loadBalancer=opaque("v1.LoadBalancerStatus"),
                      conditions=ListOf(opaque("v1.Condition")))),
    "Endpoints": kind("v1.Endpoints", subsets=ListOf(struct(
        "v1.EndpointSubset",
        addresses=ListOf(struct("v1.EndpointAddress", ip=STRING, hostname=STRING, nodeName=STRING)),
        notReadyAddresses=ListOf(struct("v1.EndpointAddress", ip=STRING, hostname=STRING, nodeName=STRING)),
        ports=ListOf(struct("v1.EndpointPort", name=STRING, port=INT32, protocol=named("v1.Protocol")))))),
    "ConfigMap": kind("v1.ConfigMap", data=STRING_MAP, binaryData=MapOf(BYTES, "map[string][]uint8"),
                      immutable=BOOL),
    "Secret": kind("v1.Secret", data=MapOf(BYTES, "map[string][]uint8"), stringData=STRING_MAP,
                   type=named("v1.SecretType"), immutable=BOOL),
    "ServiceAccount": kind("v1.ServiceAccount", secrets=ListOf(OBJECT_REFERENCE),
                           imagePullSecrets=ListOf(LOCAL_OBJECT_REFERENCE), automountServiceAccountToken=BOOL),
    "Namespace": kind("v1.Namespace", spec=struct("v1.NamespaceSpec", finalizers=strings_of("v1.FinalizerName")),
                      status=struct("v1.NamespaceStatus", phase=named("v1.NamespacePhase"),
                                    conditions=conditions("v1.NamespaceCondition"))),
    "Node": kind(
        "v1.Node",
        spec=struct("v1.NodeSpec", podCIDR=STRING, podCIDRs=STRINGS, providerID=STRING, unschedulable=BOOL,
                    taints=ListOf(struct("v1.Taint", key=STRING, value=STRING, effect=named("v1.TaintEffect"),
                                         timeAdded=TIME))),
        status=struct("v1.NodeStatus", capacity=RESOURCE_LIST, allocatable=RESOURCE_LIST, phase=named("v1.NodePhase"),
                      conditions=conditions("v1.NodeCondition"),
                      addresses=ListOf(struct("v1.NodeAddress", type=named("v1.NodeAddressType"), address=STRING)),
                      nodeInfo=opaque("v1.NodeSystemInfo"))),
    "ResourceQuota": kind(
        "v1.ResourceQuota",
        spec=struct("v1.ResourceQuotaSpec", hard=RESOURCE_LIST, scopes=strings_of("v1.ResourceQuotaScope"),
                    scopeSelector=struct("v1.ScopeSelector", matchExpressions=ListOf(struct(
                        "v1.ScopedResourceSelectorRequirement", scopeName=named("v1.ResourceQuotaScope"),
                        operator=named("v1.ScopeSelectorOperator"), values=STRINGS)))),
        status=struct("v1.ResourceQuotaStatus", hard=RESOURCE_LIST, used=RESOURCE_LIST)),
    "LimitRange": kind("v1.LimitRange", spec=struct("v1.LimitRangeSpec", limits=ListOf(struct(
        "v1.LimitRangeItem", type=named("v1.LimitType"), max=RESOURCE_LIST, min=RESOURCE_LIST,
        default=RESOURCE_LIST, defaultRequest=RESOURCE_LIST, maxLimitRequestRatio=RESOURCE_LIST)))),
    "PersistentVolume": kind(
        "v1.PersistentVolume",
        spec=struct("v1.PersistentVolumeSpec", capacity=RESOURCE_LIST, accessModes=ACCESS_MODES,
                    claimRef=OBJECT_REFERENCE, storageClassName=STRING, mountOptions=STRINGS,
                    persistentVolumeReclaimPolicy=named("v1.PersistentVolumeReclaimPolicy"),
                    volumeMode=named("v1.PersistentVolumeMode"), nodeAffinity=opaque("v1.VolumeNodeAffinity"),
                    hostPath=struct("v1.HostPathVolumeSource", path=STRING, type=named("v1.HostPathType"))),
        status=struct("v1.PersistentVolumeStatus", phase=named("v1.PersistentVolumePhase"), message=STRING,
                      reason=STRING)),
    "PersistentVolumeClaim": kind(
        "v1.PersistentVolumeClaim",
        spec=struct("v1.PersistentVolumeClaimSpec", accessModes=ACCESS_MODES, selector=LABEL_SELECTOR,
                    resources=struct("v1.VolumeResourceRequirements", limits=RESOURCE_LIST, requests=RESOURCE_LIST),
                    volumeName=STRING, storageClassName=STRING, volumeMode=named("v1.PersistentVolumeMode")),
        status=struct("v1.PersistentVolumeClaimStatus", phase=named("v1.PersistentVolumeClaimPhase"),
                      accessModes=ACCESS_MODES, capacity=RESOURCE_LIST,
                      conditions=conditions("v1.PersistentVolumeClaimCondition"))),
    "Role": kind("v1.Role", rules=RBAC_RULES),
    "ClusterRole": kind("v1.ClusterRole", rules=RBAC_RULES, aggregationRule=struct(
        "v1.AggregationRule", clusterRoleSelectors=ListOf(LABEL_SELECTOR))),
    "RoleBinding": kind("v1.RoleBinding", **RBAC_BINDING),
    "ClusterRoleBinding": kind("v1.ClusterRoleBinding", **RBAC_BINDING),
    "Lease": kind("v1.Lease", spec=struct(
        "v1.LeaseSpec", holderIdentity=STRING, leaseDurationSeconds=INT32, acquireTime=TIME, renewTime=TIME,
        leaseTransitions=INT32, strategy=named("v1.CoordinatedLeaseStrategy"), preferredHolder=STRING)),
    "StorageClass": kind(
        "v1.StorageClass", provisioner=STRING, parameters=STRING_MAP,
        reclaimPolicy=named("v1.PersistentVolumeReclaimPolicy"), mountOptions=STRINGS, allowVolumeExpansion=BOOL,
        volumeBindingMode=named("v1.VolumeBindingMode"), allowedTopologies=ListOf(opaque("v1.TopologySelectorTerm"))),
    "MutatingWebhookConfiguration": kind("v1.MutatingWebhookConfiguration", webhooks=ListOf(Struct(
        "v1.MutatingWebhook", {**WEBHOOK_FIELDS, "reinvocationPolicy": named("v1.ReinvocationPolicyType")}))),
    "ValidatingWebhookConfiguration": kind("v1.ValidatingWebhookConfiguration",
                                           webhooks=ListOf(Struct("v1.ValidatingWebhook", WEBHOOK_FIELDS))),
}

# Subresource bodies with a type of their own (status and finalize take the kind's own table).
SUBRESOURCE_TABLES: dict[str, Struct] = {
    "scale": kind("v1.Scale", spec=struct("v1.ScaleSpec", replicas=INT32),
                  status=struct("v1.ScaleStatus", replicas=INT32, selector=STRING)),
    "binding": kind("v1.Binding", target=OBJECT_REFERENCE),
    "token": kind("v1.TokenRequest", spec=struct(
        "v1.TokenRequestSpec", audiences=STRINGS, expirationSeconds=INT64,
        boundObjectRef=struct("v1.BoundObjectReference", kind=STRING, apiVersion=STRING, name=STRING, uid=UID))),
}

DELETE_OPTIONS = struct(
    "v1.DeleteOptions", gracePeriodSeconds=INT64, orphanDependents=BOOL,
    preconditions=struct("v1.Preconditions", uid=UID, resourceVersion=STRING),
    propagationPolicy=named("v1.DeletionPropagation"), dryRun=STRINGS)


# ---------------------------------------------------------------------------------------------
# The walker.

class _Refused(Exception):
    """The decoder's own error text, before the handler wraps it."""


@attrs.frozen
class _Where:
    """Where the decoder is, as its error context names it: innermost struct, JSON field path."""
    struct: str = ""
    fields: tuple[str, ...] = ()

    def describe(self, go: str) -> str:
        if not self.fields:
            return f"Go value of type {go}"
        return f"Go struct field {self.struct}.{'.'.join(self.fields)} of type {go}"


def check_types(resource: ResourceType, obj: Any, subresource: str = "") -> None:
    """Refuse, as kube's decoder does, the first field whose JSON type the served kind's Go type
    cannot take: ApiError BadRequest, 400. Nulls become what Go decodes them to, in place (see the
    module docstring). ``subresource`` picks the body type of ``scale``, ``binding`` and ``token``."""
    table = SUBRESOURCE_TABLES.get(subresource) or KIND_TABLES[resource.kind]
    target = table.name
    version = "v1" if subresource in SUBRESOURCE_TABLES else resource.version
    try:
        _check_type_meta(obj)
    except _Refused as error:
        raise ApiError("BadRequest", f"the object provided is unrecognized (must be of type {target}): "
                                     f"couldn't get version/kind; json parse error: {error}") from None
    try:
        _walk(table, obj)
    except _Refused as error:
        raise ApiError("BadRequest", f'{target} in version "{version}" cannot be handled as a {target}: '
                                     f"{error}") from None


def check_delete_options(obj: Any) -> None:
    """The body of a DELETE: refused with the decoder's bare message and 400, as today's delete.go
    answers (it wraps the error in NewBadRequest; older releases passed it on raw, a 500)."""
    try:
        _check_type_meta(obj)
        _walk(DELETE_OPTIONS, obj)
    except _Refused as error:
        raise ApiError("BadRequest", str(error)) from None


def _check_type_meta(obj: Any) -> None:
    """apiVersion and kind are read first, into an anonymous struct (runtime/serializer/json/meta.go)."""
    if not isinstance(obj, dict):
        return  # the walker names it
    for field in ("apiVersion", "kind"):
        value = obj.get(field)
        if value is not None and not isinstance(value, str):
            raise _Refused(f"json: cannot unmarshal {_json_name(value)} into "
                           f"{_Where('', (field,)).describe('string')}")


def _walk(table: Struct, obj: Any) -> None:
    """Depth first in document order, as the decoder reads. The stack holds each JSON node of the
    body at most once, so the loop is bounded by the body's size (which the server limits)."""
    stack: list[tuple[GoType, Any, _Where]] = [(table, obj, _Where())]
    while stack:
        go_type, value, where = stack.pop()
        children = list(_children(go_type, value, where))
        stack.extend(reversed(children))


def _children(go_type: GoType, value: Any, where: _Where) -> Iterator[tuple[GoType, Any, _Where]]:
    """Check one value's own JSON type; yield its typed children (nulls replaced first)."""
    if isinstance(go_type, Scalar):
        _check_scalar(go_type, value, where)
        return
    expected = list if isinstance(go_type, ListOf) else dict
    if not isinstance(value, expected):
        raise _Refused(f"json: cannot unmarshal {_json_name(value)} into {where.describe(go_type.go)}")
    if isinstance(go_type, Struct):
        yield from _struct_children(go_type, value, where)
    else:
        element = go_type.item if isinstance(go_type, ListOf) else go_type.value
        keys = range(len(value)) if isinstance(value, list) else list(value)
        for key in keys:
            if value[key] is None:
                value[key] = zero_value(element)
            yield element, value[key], where


def _struct_children(table: Struct, value: dict, where: _Where) -> Iterator[tuple[GoType, Any, _Where]]:
    for field in [field for field in value if field in table.fields]:
        if value[field] is None:
            del value[field]  # Go keeps the zero value, which an omitempty field re-encodes as absent
            continue
        yield table.fields[field], value[field], _Where(table.name, where.fields + (field,))


def zero_value(go_type: GoType) -> Any:
    """What Go decodes ``null`` to inside a list or as a map value."""
    if isinstance(go_type, Struct) or isinstance(go_type, MapOf):
        return {}
    if isinstance(go_type, ListOf):
        return []
    return {"string": "", "bytes": "", "bool": False, "quantity": "0"}.get(go_type.json, 0)


# ---------------------------------------------------------------------------------------------
# Leaves.

def _json_name(value: Any) -> str:
    """How Go's decoder names a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "null")


def _check_scalar(scalar: Scalar, value: Any, where: _Where) -> None:
    kind_of_json = scalar.json
    if kind_of_json == "quantity":
        return _check_quantity(value)
    if kind_of_json == "bytes" and isinstance(value, str):
        return _check_base64(value)
    if kind_of_json in ("int32", "int64") or (kind_of_json == "int-or-string" and not isinstance(value, str)):
        return _check_integer(scalar, value, where)
    accepted = {"string": str, "bytes": str, "bool": bool, "int-or-string": str}[kind_of_json]
    if not isinstance(value, accepted):
        raise _Refused(f"json: cannot unmarshal {_json_name(value)} into {where.describe(scalar.go)}")
    return None


def _check_integer(scalar: Scalar, value: Any, where: _Where) -> None:
    low, high = (INT64_MIN, INT64_MAX) if scalar.json == "int64" else (INT32_MIN, INT32_MAX)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return
    shown = _json_name(value)
    if shown == "number":  # ParseInt failed on the literal (a fraction, an exponent, an overflow)
        shown = f"number {value!r}"
    raise _Refused(f"json: cannot unmarshal {shown} into {where.describe(scalar.go)}")


def _check_quantity(value: Any) -> None:
    """Quantity.UnmarshalJSON parses the text (a string's inside, or a number's literal)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Refused(QUANTITY_FORMAT_MESSAGE)
    try:
        parse_quantity(value.strip() if isinstance(value, str) else repr(value))
    except ValueError as error:
        raise _Refused(str(error)) from None


_BASE64_CHARACTER = re.compile(r"[A-Za-z0-9+/=\r\n]")


def _check_base64(text: str) -> None:
    """Go's base64.StdEncoding: padded, CR and LF skipped; the error names the byte offset."""
    for offset, character in enumerate(text):
        if not _BASE64_CHARACTER.fullmatch(character):
            raise _Refused(f"illegal base64 data at input byte {offset}")
    data = text.replace("\r", "").replace("\n", "")
    body = data.rstrip("=")
    padding = len(data) - len(body)
    if "=" in body:
        raise _Refused(f"illegal base64 data at input byte {body.index('=')}")
    if len(data) % 4 or padding > 2 or (padding and len(body) % 4 != 4 - padding):
        raise _Refused(f"illegal base64 data at input byte {len(body) - len(body) % 4}")
