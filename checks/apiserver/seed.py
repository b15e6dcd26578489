"""The cluster every apiserver run starts from, and the cast of identities that use it.

The objects are written into the store in one txn before the instances start (as if restored
from a backup), so a run begins with the namespaces, accounts, policy and quota a learner
expects without spending its budget on creating them:

- namespaces ``ns1`` (label team=a) and ``ns2`` (PodSecurity ``restricted`` enforced), each with
  its ``default`` service account; ``builder`` in ns1;
- RBAC: alice may edit ns1 (ClusterRole ``edit``) and write roles and bindings there (Role
  ``role-writer``, without escalate or bind); bob may view ns1 and ns2; group ``ops`` (carol's
  certificate) may view everything, and carol may impersonate bob (users, not groups);
  service account ns1/builder may edit ns1;
- ConfigMaps ``c1`` in ns1 and ``c2`` in ns2, for updates to race on;
- pod ``runner`` in ns1, running on node-1 as service account builder (its projected token is the
  identity ``pod:ns1:runner``);
- ResourceQuota ``q1`` in ns1 (pods=4, configmaps=4), its status filled as the quota controller
  would; a default StorageClass;
- with webhooks: ``a-count`` (mutating, reinvocationPolicy IfNeeded: labels pods with their
  container count), ``b-sidecar`` (mutating: injects a sidecar into pods labelled inject=true)
  and ``deny`` (validating: refuses objects labelled forbidden=true), all served by ``wh1``.

Identities (``spec.apiserver.observations.Identity``): admin (system:masters, token), alice and
bob (tokens), carol (x509 certificate, group ops, valid until tick ``CAROL_CERT_EXPIRES``),
sa:ns1:builder (a bound service-account token) and anonymous.
"""

from __future__ import annotations

import random
from typing import Any

from impl.apiserver.authn import (
    Authentication, CertificateAuthority, ObjectRef, ServiceAccountIssuer, ServiceAccountKeys, SigningKey,
    StaticTokens, TrustBundle,
)
from impl.apiserver.client import Credentials
from impl.apiserver.objectmeta import new_uid, timestamp
from impl.apiserver.resources import resource_for
from impl.apiserver.storage import encode, key_of
from spec.apiserver.observations import Identity

__all__ = ["seed_objects", "IDENTITIES", "credentials_for", "authentication", "CAROL_CERT_EXPIRES", "ISSUER",
           "WEBHOOK_SERVICE", "WEBHOOK_BEHAVIOURS", "identity_named"]

ISSUER = "https://kubernetes.default.svc"
CAROL_CERT_EXPIRES = 600
WEBHOOK_SERVICE = "wh1"
WEBHOOK_BEHAVIOURS = {"count.kinv.example.com": "count-containers", "sidecar.kinv.example.com": "inject-sidecar",
                      "deny.kinv.example.com": "deny-forbidden"}
_TOKENS = 'admin-token,admin,uid-admin,"system:masters"\nalice-token,alice,uid-alice,"dev"\n' \
          'bob-token,bob,uid-bob,"qa"\n'
_CA = CertificateAuthority("kinv-ca", "ca-1")
_SA_KEY = SigningKey("sa-key-1", "kinv-service-account-signing-secret")

IDENTITIES = (
    Identity("admin", "token", "admin", ("system:masters",)),
    Identity("alice", "token", "alice", ("dev",)),
    Identity("bob", "token", "bob", ("qa",)),
    Identity("carol", "x509", "carol", ("ops",), expires=CAROL_CERT_EXPIRES),
    Identity("sa:ns1:builder", "serviceaccount", "system:serviceaccount:ns1:builder", (), "ns1"),
    # the token the kubelet projects into pod ns1/runner: bound to the pod as well as the account
    Identity("pod:ns1:runner", "serviceaccount", "system:serviceaccount:ns1:builder", (), "ns1"),
    Identity("anonymous", "anonymous", "system:anonymous", ()),
)


def identity_named(name: str) -> Identity | None:
    return next((i for i in IDENTITIES if i.name == name), None)


def authentication() -> Authentication:
    return Authentication(trust_bundle=TrustBundle((_CA,)), static_tokens=StaticTokens.from_csv(_TOKENS),
                          service_account_keys=ServiceAccountKeys(_SA_KEY), service_account_issuers=(ISSUER,),
                          api_audiences=(ISSUER,))


def _meta(name: str, rng: random.Random, namespace: str | None = None, **more) -> dict[str, Any]:
    meta = {"name": name, "uid": new_uid(rng), "creationTimestamp": timestamp(0), "generation": 1, **more}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _rolebinding(name: str, namespace: str | None, role_kind: str, role: str, subject: dict[str, str],
                 rng: random.Random) -> dict[str, Any]:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": _meta(name, rng, namespace),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject]}


def _user(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def _webhook(name: str, behaviour_rules: list[dict], mutating: bool, **more) -> dict[str, Any]:
    hook = {"name": name, "clientConfig": {"service": {"name": WEBHOOK_SERVICE, "namespace": "kube-system",
                                                         "path": "/admit"}},
            "rules": behaviour_rules, "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail", "timeoutSeconds": 10, **more}
    return hook


def _without(hook: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != field}


def _rules(*resources: str) -> list[dict[str, Any]]:
    return [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
             "resources": list(resources), "scope": "Namespaced"}]


def _webhook_configurations(rng: random.Random) -> list[dict[str, Any]]:
    group = "admissionregistration.k8s.io/v1"
    return [
        {"apiVersion": group, "kind": "MutatingWebhookConfiguration", "metadata": _meta("a-count", rng),
         "webhooks": [_webhook("count.kinv.example.com", _rules("pods"), True, reinvocationPolicy="IfNeeded")]},
        {"apiVersion": group, "kind": "MutatingWebhookConfiguration", "metadata": _meta("b-sidecar", rng),
         "webhooks": [_webhook("sidecar.kinv.example.com", _rules("pods"), True, reinvocationPolicy="Never")]},
        {"apiVersion": group, "kind": "ValidatingWebhookConfiguration", "metadata": _meta("deny", rng),
         # failurePolicy left out: the default (Fail since admissionregistration.k8s.io/v1) applies
         "webhooks": [_without(_webhook("deny.kinv.example.com", _rules("pods", "configmaps"), False),
                               "failurePolicy")]},
    ]


def seed_objects(rng: random.Random, webhooks: bool) -> list[dict[str, Any]]:
    core = "v1"
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    objects: list[dict[str, Any]] = [
        {"apiVersion": core, "kind": "Namespace", "metadata": _meta("ns1", rng, labels={"team": "a"}),
         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
        {"apiVersion": core, "kind": "Namespace", "metadata": _meta("ns2", rng, labels=restricted),
         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
    ]
    for namespace, name in (("ns1", "default"), ("ns2", "default"), ("ns1", "builder")):
        objects.append({"apiVersion": core, "kind": "ServiceAccount", "metadata": _meta(name, rng, namespace)})
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": _meta("role-writer", rng, "ns1"),
                    "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                               "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]})
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": _meta("impersonate-bob", rng),
                    "rules": [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"],
                               "verbs": ["impersonate"]}]})
    objects += [
        _rolebinding("carol-impersonates-bob", None, "ClusterRole", "impersonate-bob", _user("carol"), rng),
        _rolebinding("alice-edit", "ns1", "ClusterRole", "edit", _user("alice"), rng),
        _rolebinding("alice-role-writer", "ns1", "Role", "role-writer", _user("alice"), rng),
        _rolebinding("bob-view", "ns1", "ClusterRole", "view", _user("bob"), rng),
        _rolebinding("bob-view", "ns2", "ClusterRole", "view", _user("bob"), rng),
        _rolebinding("ops-view", None, "ClusterRole", "view",
                     {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}, rng),
        _rolebinding("builder-edit", "ns1", "ClusterRole", "edit",
                     {"kind": "ServiceAccount", "name": "builder", "namespace": "ns1"}, rng),
    ]
    objects.append({"apiVersion": core, "kind": "ConfigMap", "metadata": _meta("c1", rng, "ns1", labels={"app": "web"}),
                    "data": {"color": "blue"}})
    objects.append({"apiVersion": core, "kind": "ConfigMap", "metadata": _meta("c2", rng, "ns2"),
                    "data": {"color": "green"}})
    # as admission left it: the counting webhook's label included (the fixpoint ADMISSION-VALID asks)
    objects.append({"apiVersion": core, "kind": "Pod", "metadata": _meta("runner", rng, "ns1",
                                                                          labels={"containers": "1"}),
                    "spec": {"nodeName": "node-1", "serviceAccountName": "builder", "restartPolicy": "Always",
                             "terminationGracePeriodSeconds": 30,
                             "containers": [{"name": "c1", "image": "busybox:1.36"}]},
                    "status": {"phase": "Running"}})
    hard = {"pods": "4", "configmaps": "4"}
    objects.append({"apiVersion": core, "kind": "ResourceQuota", "metadata": _meta("q1", rng, "ns1"),
                    "spec": {"hard": hard}, "status": {"hard": hard, "used": {"pods": "1", "configmaps": "1"}}})
    objects.append({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": _meta("standard", rng, annotations={
                        "storageclass.kubernetes.io/is-default-class": "true"}),
                    "provisioner": "kinv.example.com/sim"})
    if webhooks:
        objects += _webhook_configurations(rng)
    return objects


def seed_writes(objects: list[dict[str, Any]]) -> tuple[tuple[bytes, bytes], ...]:
    writes = []
    for obj in objects:
        group, _, _ = obj["apiVersion"].rpartition("/")
        plural = {"Namespace": "namespaces", "ServiceAccount": "serviceaccounts", "Role": "roles",
                  "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings", "ClusterRole": "clusterroles",
                  "ResourceQuota": "resourcequotas", "StorageClass": "storageclasses", "ConfigMap": "configmaps",
                  "Pod": "pods",
                  "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
                  "ValidatingWebhookConfiguration": "validatingwebhookconfigurations"}[obj["kind"]]
        resource = resource_for(group, plural)
        writes.append((key_of(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]), encode(obj)))
    return tuple(writes)


def credentials_for(identity: Identity, objects: list[dict[str, Any]], now: int, rng: random.Random) -> Credentials:
    """The headers (or certificate) a client presents for ``identity``."""
    if identity.kind == "token":
        return Credentials(identity.name, (("Authorization", f"Bearer {identity.name}-token"),))
    if identity.kind == "x509":
        certificate = _CA.issue(identity.user, identity.groups, 0, CAROL_CERT_EXPIRES)
        return Credentials(identity.name, (), certificate)
    if identity.kind == "serviceaccount":
        account = next(o for o in objects if o["kind"] == "ServiceAccount"
                       and o["metadata"]["name"] == identity.user.rsplit(":", 1)[1]
                       and o["metadata"]["namespace"] == identity.namespace)
        issuer = ServiceAccountIssuer(ISSUER, ServiceAccountKeys(_SA_KEY), rng)
        pod = None
        if identity.name.startswith("pod:"):
            bound = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"] == identity.name.split(":")[2])
            pod = ObjectRef.of(bound)
        token = issuer.issue(identity.namespace, account["metadata"]["name"], account["metadata"]["uid"],
                             (ISSUER,), now, 3600, pod=pod)
        return Credentials(identity.name, (("Authorization", f"Bearer {token}"),))
    return Credentials(identity.name)


__all__.append("seed_writes")
