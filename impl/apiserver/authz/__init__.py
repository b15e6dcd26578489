"""Authorization: pure authorizers over policy objects and requests.

- ``rbac``: the RBAC authorizer with Kubernetes' exact matching and aggregation.
- ``node``: the Node authorizer (a kubelet reads only what its pods reference).
- ``abac``, ``webhook``, ``chain``: ABAC, the webhook stand-in, AlwaysAllow/AlwaysDeny, the union.
- ``escalation``: escalate/bind checks and impersonation.
- ``manifests``: loading policy from YAML as kubectl writes it.
- ``bugs``: the catalog of small broken variants.
"""

from impl.apiserver.authz.abac import AbacAuthorizer, AbacPolicy, parse_abac
from impl.apiserver.authz.chain import AlwaysAllow, AlwaysDeny, Authorizer, PrivilegedGroups, UnionAuthorizer, allowed
from impl.apiserver.authz.escalation import EscalationGuard, covers
from impl.apiserver.authz.manifests import ManifestError, load_policy, policy_from_objects, policy_from_text
from impl.apiserver.authz.node import NodeAuthorizer, NodeGraph, PodRefs, node_user
from impl.apiserver.authz.rbac import Grant, Policy, RBACAuthorizer, RbacSemantics
from impl.apiserver.authz.types import (
    Binding, Decision, LabelSelector, PolicyRule, Request, Role, RoleRef, Subject, UserInfo,
)
from impl.apiserver.authz.webhook import WebhookAuthorizer, WebhookReply, WebhookUnavailable

__all__ = [
    "AbacAuthorizer", "AbacPolicy", "parse_abac", "AlwaysAllow", "AlwaysDeny", "Authorizer", "PrivilegedGroups",
    "UnionAuthorizer", "allowed", "EscalationGuard", "covers", "ManifestError", "load_policy",
    "policy_from_objects", "policy_from_text", "NodeAuthorizer", "NodeGraph", "PodRefs", "node_user",
    "Grant", "Policy", "RBACAuthorizer", "RbacSemantics", "Binding", "Decision", "LabelSelector",
    "PolicyRule", "Request", "Role", "RoleRef", "Subject", "UserInfo", "WebhookAuthorizer",
    "WebhookReply", "WebhookUnavailable",
]
