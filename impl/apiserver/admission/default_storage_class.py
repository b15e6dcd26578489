"""DefaultStorageClass: a claim that names no storage class gets the cluster's default one.

Rules (kube ``plugin/pkg/admission/storage/storageclass/setdefault`` and
``pkg/volume/util.GetDefaultClass``; "Storage Classes", default StorageClass):

- PersistentVolumeClaims on CREATE, main resource. A claim "has a class" when
  ``spec.storageClassName`` is present, even ``""`` (which asks for no class), or it carries the
  beta annotation ``volume.beta.kubernetes.io/storage-class``; such claims are left alone.
- Default classes carry ``storageclass.kubernetes.io/is-default-class: "true"`` (or the beta
  ``storageclass.beta.kubernetes.io/is-default-class``). With several, the newest by
  ``metadata.creationTimestamp`` wins, ties broken by the smaller name (kube >= 1.26; before,
  several defaults were an error). With none, the claim is unchanged.
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.admission._objects import annotations_of, is_kind, is_main
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup

__all__ = ["DefaultStorageClass", "DEFAULT_CLASS_ANNOTATIONS", "BETA_CLAIM_CLASS_ANNOTATION", "default_class"]

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
BETA_CLAIM_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _is_default(storage_class: dict[str, Any]) -> bool:
    annotations = annotations_of(storage_class)
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def _created(storage_class: dict[str, Any]) -> tuple[int, Any]:
    """A sort key for creationTimestamp, whether stored as ticks or as RFC 3339 text (which sorts
    as text when written in one format, as the server writes it)."""
    value = (storage_class.get("metadata") or {}).get("creationTimestamp")
    if isinstance(value, (int, float)):
        return (1, value)
    return (0 if value is None else 2, value or "")


def default_class(storage_classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest default class; ties by name ascending."""
    defaults = [c for c in storage_classes if _is_default(c)]
    if not defaults:
        return None
    newest = max(_created(c) for c in defaults)
    return min((c for c in defaults if _created(c) == newest), key=lambda c: c["metadata"]["name"])


class DefaultStorageClass:
    name = "DefaultStorageClass"

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return (is_kind(attributes, "", "persistentvolumeclaims") and is_main(attributes)
                and attributes.operation == "CREATE")

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        claim = attributes.object
        if claim is None or self.has_class(claim):
            return
        chosen = default_class(lookup.list("storageclasses", None, "storage.k8s.io"))
        if chosen is not None:
            claim.setdefault("spec", {})["storageClassName"] = chosen["metadata"]["name"]

    def has_class(self, claim: dict[str, Any]) -> bool:
        if "storageClassName" in (claim.get("spec") or {}) and claim["spec"]["storageClassName"] is not None:
            return True
        return BETA_CLAIM_CLASS_ANNOTATION in annotations_of(claim)
