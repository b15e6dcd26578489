"""ServiceAccount: every pod runs as a service account that exists, and gets its API token
mounted unless it opts out.

Rules (kube ``plugin/pkg/admission/serviceaccount``; "Admission Controllers Reference",
ServiceAccount; "Managing Service Accounts", bound service account token volume):

- Pods on CREATE, main resource only.
- Mirror pods (annotation ``kubernetes.io/config.mirror``) are never edited; they are refused
  if they name a service account (``a mirror pod may not reference service accounts``),
  reference a secret (volumes, projected sources, env, envFrom, imagePullSecrets: ``a mirror
  pod may not reference secrets``) or project a service account token.
- ``spec.serviceAccountName`` defaults to ``default``; an account that does not exist is
  Forbidden ``error looking up service account NS/NAME: serviceaccount "NAME" not found``.
- Unless ``automountServiceAccountToken`` is false (the pod's setting wins over the account's),
  a projected volume ``kube-api-access-<5 letters>`` (token with expirationSeconds 3607 at
  ``token``, configMap ``kube-root-ca.crt`` key ``ca.crt``, downwardAPI ``namespace``,
  defaultMode 420) is added, and a read-only mount at ``/var/run/secrets/kubernetes.io/
  serviceaccount`` in every init container and container that has no mount at that path. An
  existing ``kube-api-access-*`` volume is reused, so a second run changes nothing.
- The account's ``imagePullSecrets`` are copied when the pod has none.

The name suffix comes from the ``random.Random`` the plugin is built with (kube uses
``names.SimpleNameGenerator``: 5 characters of ``bcdfghjklmnpqrstvwxz2456789``); it is drawn
only when a volume is added, so re-running the plugin does not consume randomness.
"""

from __future__ import annotations

import random
from typing import Any

from impl.apiserver.admission._objects import annotations_of, forbidden, is_kind, is_main
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup
from impl.apiserver.status import ApiError

__all__ = ["ServiceAccount", "DEFAULT_SERVICE_ACCOUNT", "TOKEN_MOUNT_PATH", "TOKEN_VOLUME_PREFIX",
           "MIRROR_ANNOTATION", "TOKEN_EXPIRATION_SECONDS", "token_volume"]

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_VOLUME_PREFIX = "kube-api-access-"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
TOKEN_EXPIRATION_SECONDS = 3607  # one hour plus seven seconds, so a token refresh is not missed
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LENGTH = 5
PROJECTED_DEFAULT_MODE = 420  # 0644


def token_volume(name: str) -> dict[str, Any]:
    return {"name": name, "projected": {"defaultMode": PROJECTED_DEFAULT_MODE, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


class ServiceAccount:
    name = "ServiceAccount"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return is_kind(attributes, "", "pods") and is_main(attributes) and attributes.operation == "CREATE"

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        pod = attributes.object
        if pod is None or self.is_mirror(pod):
            return
        spec = pod.setdefault("spec", {})
        spec["serviceAccountName"] = spec.get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT
        account = self.account(attributes, lookup, spec["serviceAccountName"])
        if self.should_automount(account, spec):
            self.mount_token(spec)
        self.copy_pull_secrets(account, spec)

    def validate(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        pod = attributes.object
        if pod is None:
            return
        spec = pod.get("spec") or {}
        if self.is_mirror(pod):
            self.refuse_mirror_references(attributes, spec)
            return
        if not spec.get("serviceAccountName"):
            raise forbidden(attributes, f"no service account specified for pod {attributes.namespace}/"
                                        f"{attributes.name}")
        self.account(attributes, lookup, spec["serviceAccountName"])

    # -- rules -----------------------------------------------------------------------------------

    def is_mirror(self, pod: dict[str, Any]) -> bool:
        return MIRROR_ANNOTATION in annotations_of(pod)

    def account(self, attributes: AdmissionAttributes, lookup: Lookup, name: str) -> dict[str, Any]:
        account = lookup.get("serviceaccounts", attributes.namespace, name)
        if account is None:
            missing = ApiError.not_found("serviceaccount", name)
            raise forbidden(attributes, f"error looking up service account {attributes.namespace}/{name}: "
                                        f"{missing.message}")
        return account

    def should_automount(self, account: dict[str, Any], spec: dict[str, Any]) -> bool:
        if spec.get("automountServiceAccountToken") is not None:
            return bool(spec["automountServiceAccountToken"])
        if account.get("automountServiceAccountToken") is not None:
            return bool(account["automountServiceAccountToken"])
        return True

    def mount_token(self, spec: dict[str, Any]) -> None:
        existing = next((v["name"] for v in spec.get("volumes") or []
                         if str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)), None)
        needing = [c for field in ("initContainers", "containers") for c in spec.get(field) or []
                   if not any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in c.get("volumeMounts") or [])]
        if not needing:
            return
        volume_name = existing or self.volume_name()
        for container in needing:
            container.setdefault("volumeMounts", []).append(
                {"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
        if existing is None:
            spec.setdefault("volumes", []).append(token_volume(volume_name))

    def volume_name(self) -> str:
        return TOKEN_VOLUME_PREFIX + "".join(self.rng.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))

    def copy_pull_secrets(self, account: dict[str, Any], spec: dict[str, Any]) -> None:
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [dict(s) for s in account["imagePullSecrets"]]

    def refuse_mirror_references(self, attributes: AdmissionAttributes, spec: dict[str, Any]) -> None:
        if spec.get("serviceAccountName"):
            raise forbidden(attributes, "a mirror pod may not reference service accounts")
        if _references_secrets(spec):
            raise forbidden(attributes, "a mirror pod may not reference secrets")
        for volume in spec.get("volumes") or []:
            sources = (volume.get("projected") or {}).get("sources") or []
            if any(source.get("serviceAccountToken") for source in sources):
                raise forbidden(attributes, "a mirror pod may not use ServiceAccountToken volume projections")


def _references_secrets(spec: dict[str, Any]) -> bool:
    if spec.get("imagePullSecrets"):
        return True
    for volume in spec.get("volumes") or []:
        if volume.get("secret") or any(s.get("secret") for s in (volume.get("projected") or {}).get("sources") or []):
            return True
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if any(e.get("secretRef") for e in container.get("envFrom") or []):
                return True
            if any((e.get("valueFrom") or {}).get("secretKeyRef") for e in container.get("env") or []):
                return True
    return False
