"""DefaultTolerationSeconds: pods tolerate a not-ready or unreachable node for 300 seconds
before the node lifecycle controller evicts them.

Rules (kube ``plugin/pkg/admission/defaulttolerationseconds``; "Taints and Tolerations",
taint based evictions): on pod CREATE and UPDATE (main resource), unless the pod already has a
toleration whose key is the taint's key or empty and whose effect is ``NoExecute`` or empty,
append ``{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute,
tolerationSeconds: 300}`` and the same for ``node.kubernetes.io/unreachable``. The seconds are
the flags ``--default-not-ready-toleration-seconds`` and
``--default-unreachable-toleration-seconds`` (both 300). Idempotent: the added tolerations
match on a second run.
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.admission._objects import is_kind, is_main
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup

__all__ = ["DefaultTolerationSeconds", "NOT_READY_TAINT", "UNREACHABLE_TAINT", "DEFAULT_TOLERATION_SECONDS",
           "tolerates"]

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300


def tolerates(toleration: dict[str, Any], key: str, effect: str) -> bool:
    """kube's test: key equal or empty, effect equal or empty (the operator is not consulted)."""
    return toleration.get("key", "") in (key, "") and toleration.get("effect", "") in (effect, "")


class DefaultTolerationSeconds:
    name = "DefaultTolerationSeconds"

    def __init__(self, not_ready_seconds: int = DEFAULT_TOLERATION_SECONDS,
                 unreachable_seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
        self.seconds = {NOT_READY_TAINT: not_ready_seconds, UNREACHABLE_TAINT: unreachable_seconds}

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return (is_kind(attributes, "", "pods") and is_main(attributes)
                and attributes.operation in ("CREATE", "UPDATE"))

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        if attributes.object is None:
            return
        spec = attributes.object.setdefault("spec", {})
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
            self.add_toleration(spec, key)

    def add_toleration(self, spec: dict[str, Any], key: str) -> None:
        if any(tolerates(t, key, "NoExecute") for t in spec.get("tolerations") or []):
            return
        spec.setdefault("tolerations", []).append(
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": self.seconds[key]})
