"""The rbac invariants: statements, sources, and the predicates over plain observations.

Decisions are the strings ``"Allow"``, ``"Deny"``, ``"NoOpinion"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from spec.invariant import Invariant
from spec.rbac.identity import expected_identity

__all__ = [
    "INVARIANTS", "first_decisive", "rbac_never_denies", "chain_first_decisive", "node_reads_own_objects",
    "no_escalation", "matches_model", "impersonation_authorized", "identity_groups",
]

AREA = "rbac"
RBAC_DOCS = "Kubernetes documentation, Using RBAC Authorization"


def first_decisive(decisions: Sequence[str]) -> str:
    """The union authorizer's answer: the first Allow or Deny; NoOpinion when all pass."""
    for decision in decisions:
        if decision != "NoOpinion":
            return decision
    return "NoOpinion"


def matches_model(mismatches: Sequence[str]) -> list[str]:
    """Observations: the requests (described) on which implementation and model disagree."""
    return [f"implementation and model disagree on: {m}" for m in mismatches]


def rbac_never_denies(observations: Sequence[tuple[str, str]]) -> list[str]:
    """Observations: (request, RBAC decision)."""
    return [f"RBAC said Deny to {request}" for request, decision in observations if decision == "Deny"]


def chain_first_decisive(observations: Sequence[tuple[str, Sequence[str], str]]) -> list[str]:
    """Observations: (request, each member's decision in order, the chain's decision)."""
    return [f"chain said {chain} to {request}, but its members said {', '.join(members)}"
            for request, members, chain in observations if chain != first_decisive(members)]


def node_reads_own_objects(observations: Sequence[tuple[str, str, bool, bool]]) -> list[str]:
    """Observations: (node, object, allowed to read, referenced by a pod bound to the node)."""
    return [f"node {node} may read {obj}, which no pod bound to it references"
            for node, obj, allowed, referenced in observations if allowed and not referenced]


def no_escalation(observations: Sequence[tuple[str, str, bool, str]]) -> list[str]:
    """Observations: (user, the binding or role written, allowed to write it, a request it would
    grant that the user cannot make, or "" when there is none, or the user holds bind/escalate)."""
    return [f"{user} may write {target}, which grants {request} that {user} cannot do"
            for user, target, allowed, request in observations if allowed and request]


def impersonation_authorized(observations: Sequence[tuple[str, str, bool, bool]]) -> list[str]:
    """Observations: (requester, the identity it asks to act as, allowed to, holds impersonate on
    that user and on every group it claims)."""
    return [f"{requester} may act as {target} without impersonate on all of it"
            for requester, target, allowed, holds in observations if allowed and not holds]


def identity_groups(observations: Sequence[tuple[str, str, str, tuple[str, ...], str, str, tuple[str, ...]]]) -> list[str]:
    """Observations: (credential kind, name, namespace, groups it names, how it reads, the user
    name authentication gave, the groups it gave)."""
    found = []
    for kind, name, namespace, claimed, described, user, groups in observations:
        wanted_user, wanted_groups = expected_identity(kind, name, namespace, claimed)
        missing, extra = sorted(wanted_groups - set(groups)), sorted(set(groups) - wanted_groups)
        if user != wanted_user or missing or extra:
            found.append(f"{described} authenticated as {user} in groups {', '.join(groups) or 'none'}; expected "
                         f"{wanted_user} in exactly {', '.join(sorted(wanted_groups))}"
                         + (f" (missing {', '.join(missing)})" if missing else "")
                         + (f" (extra {', '.join(extra)})" if extra else ""))
    return found


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        id="RBAC-MATCHES-MODEL", area=AREA,
        statement=("For every request over the policy's finite universe (every name the policy mentions plus a "
                   "fresh value per field), the RBAC authorizer allows it exactly when the z3 model of Kubernetes "
                   "RBAC does: verbs, API groups, resource/subresource with */sub and *, resourceNames (which can "
                   "never restrict list, watch, create or deletecollection), URL prefixes only with a trailing *, "
                   "RoleBindings only in their namespace, and aggregated ClusterRoles to a fixpoint."),
        source=f"{RBAC_DOCS} (Referring to resources; RoleBinding and ClusterRoleBinding; Aggregated ClusterRoles); "
               "kubernetes/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go",
        why="A matcher that is more generous than Kubernetes grants access an administrator never wrote; a "
            "stricter one breaks workloads that work on a real cluster.",
        predicate=matches_model),
    Invariant(
        id="RBAC-NEVER-DENIES", area=AREA,
        statement=("RBAC only adds permissions: when no rule allows a request it answers NoOpinion, never Deny, "
                   "so later authorizers in the chain still get to decide."),
        source=f"{RBAC_DOCS} (\"Permissions are purely additive (there are no deny rules)\")",
        why="A Deny from RBAC would cut off the Webhook or ABAC authorizer configured after it.",
        predicate=rbac_never_denies),
    Invariant(
        id="RBAC-CHAIN-FIRST-DECISIVE", area=AREA,
        statement=("The authorizer chain asks its members in order; the first Allow or Deny decides, NoOpinion "
                   "passes to the next, and when all have no opinion the request is forbidden."),
        source="Kubernetes documentation, Authorization (Authorization modules; \"the first authorizer to allow or "
               "deny a request short-circuits\"); k8s.io/apiserver pkg/authorization/union",
        why="If a Deny falls through, a webhook that forbids something is overridden by a later Allow.",
        predicate=chain_first_decisive),
    Invariant(
        id="RBAC-NODE-OWN-OBJECTS", area=AREA,
        statement=("A node identity (system:node:NAME in system:nodes) may read a secret, configmap, "
                   "PersistentVolumeClaim or PersistentVolume only if a pod bound to that node references it."),
        source="Kubernetes documentation, Using Node Authorization",
        why="Otherwise a compromised kubelet reads every secret of the cluster, not only its pods'.",
        predicate=node_reads_own_objects),
    Invariant(
        id="RBAC-NO-ESCALATION", area=AREA,
        statement=("A user may create or update a role or binding only if they already hold every permission it "
                   "grants (in its namespace), or hold escalate (roles) or bind (bindings) on it, or are in "
                   "system:masters."),
        source=f"{RBAC_DOCS} (Privilege escalation prevention and bootstrapping)",
        why="Without it, anyone who may create RoleBindings can bind cluster-admin to themselves.",
        predicate=no_escalation),
    Invariant(
        id="RBAC-IMPERSONATION-AUTHORIZED", area=AREA,
        statement=("A user may act as another identity only if it holds the impersonate verb on each attribute it "
                   "claims: the user (cluster-wide) or the service account (in that account's namespace), every "
                   "group, the uid and every extra value (cluster-wide). So a RoleBinding can grant impersonation "
                   "of service accounts of its namespace, never of users or groups, whatever namespace the "
                   "impersonated request goes to."),
        source="Kubernetes documentation, Authenticating (User impersonation); k8s.io/apiserver "
               "pkg/endpoints/filters/impersonation.go (only a ServiceAccount is asked in a namespace)",
        why="If claimed groups are not checked, or a namespace's RoleBinding grants impersonation of users, whoever "
            "may impersonate one user can claim system:masters.",
        predicate=impersonation_authorized),
    Invariant(
        id="RBAC-IDENTITY-GROUPS", area=AREA,
        statement=("Authentication gives each kind of identity exactly its groups: a client certificate or token "
                   "user gets the groups it names plus system:authenticated; a service account NS/NAME is user "
                   "system:serviceaccount:NS:NAME in system:serviceaccounts, system:serviceaccounts:NS and "
                   "system:authenticated; a request without credentials is system:anonymous in "
                   "system:unauthenticated only."),
        source="Kubernetes documentation, Authenticating (Users in Kubernetes; Service account tokens; Anonymous "
               "requests); k8s.io/apiserver pkg/authentication/group and pkg/authentication/serviceaccount",
        why="RBAC bindings name groups: an anonymous request in system:authenticated gets everything bound to "
            "signed-in users, and a service account in another namespace's group gets that namespace's grants.",
        predicate=identity_groups),
)
