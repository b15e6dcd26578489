"""The admission chain in kube-apiserver's default order, restricted to the plugins we have.

Order (kube ``pkg/kubeapiserver/options/plugins.go``, ``AllOrderedPlugins``): NamespaceLifecycle,
LimitRanger, ServiceAccount, PodSecurity, DefaultTolerationSeconds, DefaultStorageClass,
MutatingAdmissionWebhook, ValidatingAdmissionWebhook, ResourceQuota. The mutating phase runs
each plugin's ``admit`` in that order, the validating phase each ``validate``; a plugin that
lacks the method is absent from that phase. The webhook and quota steps are asynchronous (calls
and a store write), so they appear as ``AsyncStep`` markers the server recognises by name and
carries out with ``webhooks`` and ``resource_quota``.

Each list holds fresh instances; ``rng`` feeds ServiceAccount's volume name suffix.
"""

from __future__ import annotations

import random

import attrs

from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.admission.default_storage_class import DefaultStorageClass
from impl.apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from impl.apiserver.admission.limit_ranger import LimitRanger
from impl.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from impl.apiserver.admission.pod_security import PodSecurity
from impl.apiserver.admission.service_account import ServiceAccount

__all__ = ["AsyncStep", "ORDER", "MUTATING_WEBHOOK", "VALIDATING_WEBHOOK", "RESOURCE_QUOTA",
           "default_plugins", "default_mutating_plugins", "default_validating_plugins"]

MUTATING_WEBHOOK = "MutatingAdmissionWebhook"
VALIDATING_WEBHOOK = "ValidatingAdmissionWebhook"
RESOURCE_QUOTA = "ResourceQuota"
ORDER = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "PodSecurity", "DefaultTolerationSeconds",
         "DefaultStorageClass", MUTATING_WEBHOOK, VALIDATING_WEBHOOK, RESOURCE_QUOTA)


@attrs.frozen
class AsyncStep:
    """A step the server performs itself: webhook calls or the quota charge."""

    name: str
    mutating: bool = False
    validating: bool = False

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return True


def default_plugins(rng: random.Random) -> list[object]:
    plugins: list[object] = [
        NamespaceLifecycle(), LimitRanger(), ServiceAccount(rng), PodSecurity(), DefaultTolerationSeconds(),
        DefaultStorageClass(), AsyncStep(MUTATING_WEBHOOK, mutating=True),
        AsyncStep(VALIDATING_WEBHOOK, validating=True), AsyncStep(RESOURCE_QUOTA, validating=True),
    ]
    assert tuple(p.name for p in plugins) == ORDER  # type: ignore[attr-defined]
    return plugins


def _in_phase(plugin: object, method: str, flag: str) -> bool:
    if isinstance(plugin, AsyncStep):
        return getattr(plugin, flag)
    return callable(getattr(plugin, method, None))


def default_mutating_plugins(rng: random.Random) -> list[object]:
    """Plugins with ``admit`` and the MutatingAdmissionWebhook marker, in order."""
    return [p for p in default_plugins(rng) if _in_phase(p, "admit", "mutating")]


def default_validating_plugins(rng: random.Random) -> list[object]:
    """Plugins with ``validate`` and the ValidatingAdmissionWebhook and ResourceQuota markers."""
    return [p for p in default_plugins(rng) if _in_phase(p, "validate", "validating")]
