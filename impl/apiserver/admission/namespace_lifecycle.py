"""NamespaceLifecycle: nothing new in a namespace that is missing or being deleted, and the
system namespaces cannot be deleted.

Rules (kube ``plugin/pkg/admission/namespace/lifecycle``; "Admission Controllers Reference",
NamespaceLifecycle):

1. DELETE of an immortal namespace (``default``, ``kube-system``, ``kube-public``) is Forbidden:
   ``namespaces "default" is forbidden: this namespace may not be deleted``.
2. Cluster-scoped objects, namespaces themselves, every DELETE, and access reviews
   (``localsubjectaccessreviews``) pass.
3. Any other request in a namespace that does not exist is NotFound ``namespaces "x" not found``
   (kube asks storage as a last resort; here the lookup is the only source).
4. CREATE in a namespace being terminated (``status.phase: Terminating``, or a
   deletionTimestamp, which the namespace registry sets together) is Forbidden
   ``unable to create new content in namespace X because it is being terminated``, with a
   ``NamespaceTerminating`` cause on ``metadata.namespace``. Updates there pass.

Kube runs this plugin in the *mutating* phase (``Lifecycle.Admit``), first of all plugins, so
a pod in a missing namespace is refused for the namespace before ServiceAccount looks for its
account; ``admit`` therefore does the checks and never edits the object.
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup
from impl.apiserver.status import ApiError

__all__ = ["NamespaceLifecycle", "IMMORTAL_NAMESPACES", "NAMESPACE_TERMINATING_CAUSE", "ACCESS_REVIEWS"]

IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"  # v1.NamespaceTerminatingCause
ACCESS_REVIEWS = (("authorization.k8s.io", "localsubjectaccessreviews"),)


class NamespaceLifecycle:
    name = "NamespaceLifecycle"
    immortal_namespaces = IMMORTAL_NAMESPACES

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return attributes.operation in ("CREATE", "UPDATE", "DELETE")

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        self.refuse_immortal_delete(attributes)
        if self.exempt(attributes):
            return
        namespace = lookup.get("namespaces", None, attributes.namespace)
        if namespace is None:
            raise ApiError.not_found("namespaces", attributes.namespace)
        if attributes.operation == "CREATE" and self.terminating(namespace):
            raise self.terminating_error(attributes)

    # -- rules ---------------------------------------------------------------------------------

    def refuse_immortal_delete(self, attributes: AdmissionAttributes) -> None:
        if (attributes.operation == "DELETE" and _is_namespace(attributes)
                and attributes.name in self.immortal_namespaces):
            raise ApiError.forbidden("namespaces", attributes.name, "this namespace may not be deleted")

    def exempt(self, attributes: AdmissionAttributes) -> bool:
        if _is_namespace(attributes) or not attributes.namespace:
            return True
        if attributes.operation == "DELETE":
            return True
        return (attributes.resource.group, attributes.resource.plural) in ACCESS_REVIEWS

    def terminating(self, namespace: dict[str, Any]) -> bool:
        phase = (namespace.get("status") or {}).get("phase")
        return phase == "Terminating" or bool((namespace.get("metadata") or {}).get("deletionTimestamp"))

    def terminating_error(self, attributes: AdmissionAttributes) -> ApiError:
        ns = attributes.namespace
        error = ApiError.forbidden(attributes.resource.plural, attributes.name,
                                   f"unable to create new content in namespace {ns} because it is being terminated",
                                   attributes.resource.group)
        error.causes = (("metadata.namespace", f"namespace {ns} is being terminated"),)
        error.cause_types = (NAMESPACE_TERMINATING_CAUSE,)
        return error


def _is_namespace(attributes: AdmissionAttributes) -> bool:
    return attributes.resource.group == "" and attributes.resource.plural == "namespaces"
