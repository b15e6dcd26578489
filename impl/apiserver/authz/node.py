"""The Node authorizer: a kubelet may read only what the pods bound to its node need.

A node authenticates as ``system:node:NAME`` in group ``system:nodes``. The authorizer keeps a
graph (``plugin/pkg/auth/authorizer/node/graph.go``): pod -> node it is bound to; secret,
configmap, PVC -> pods that reference them; PV -> PVC bound to it. A node may ``get`` (or
``list``/``watch`` one object by name) a secret, configmap, PVC or PV only when a path leads from
that object to the node. Other requests from nodes are judged by a fixed rule list (the
``system:node`` rules); anything else is NoOpinion, so the next authorizer in the chain decides.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from impl.apiserver.authz.rbac import RbacSemantics
from impl.apiserver.authz.types import Decision, PolicyRule, Request

__all__ = ["PodRefs", "NodeGraph", "NodeAuthorizer", "NODE_PREFIX", "NODES_GROUP", "node_user", "DEFAULT_NODE_RULES"]

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
GRAPH_RESOURCES = ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")
READ_VERBS = ("get", "list", "watch")

# A small excerpt of the bootstrap ``system:node`` rules: what a kubelet does besides reading.
DEFAULT_NODE_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(verbs=("get", "list", "watch"), api_groups=("",), resources=("nodes", "pods", "services")),
    PolicyRule(verbs=("create", "update", "patch"), api_groups=("",), resources=("nodes/status", "pods/status")),
    PolicyRule(verbs=("create", "patch", "update"), api_groups=("", "events.k8s.io"), resources=("events",)),
)


def node_user(node: str) -> str:
    return NODE_PREFIX + node


@attrs.frozen
class PodRefs:
    """A pod bound to ``node`` and the objects of its namespace it references by name."""

    namespace: str
    name: str
    node: str
    secrets: tuple[str, ...] = ()
    configmaps: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()


@attrs.frozen
class NodeGraph:
    """Pods and the PV bound to each PVC (``(namespace, claim) -> volume``)."""

    pods: tuple[PodRefs, ...] = ()
    volumes: tuple[tuple[tuple[str, str], str], ...] = ()

    def reachable(self, node: str, resource: str, namespace: str, name: str) -> bool:
        """Is there a path object -> pod -> ``node``?"""
        pods = [p for p in self.pods if p.node == node]
        if resource == "persistentvolumes":
            claims = {(p.namespace, c) for p in pods for c in p.claims}
            return any(volume == name and claim in claims for claim, volume in self.volumes)
        field = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}[resource]
        return any(p.namespace == namespace and name in getattr(p, field) for p in pods)


class NodeAuthorizer:
    def __init__(self, graph: NodeGraph, rules: Sequence[PolicyRule] = DEFAULT_NODE_RULES) -> None:
        self.graph = graph
        self.rules = tuple(rules)
        self._matcher = RbacSemantics()

    def node_name(self, request: Request) -> str | None:
        """The node a request comes from, or None when it is not a node identity."""
        user = request.user
        if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
            return None
        return user.name[len(NODE_PREFIX):] or None

    def authorize(self, request: Request) -> Decision:
        node = self.node_name(request)
        if node is None:
            return Decision.NO_OPINION
        if request.resource_request and request.api_group == "" and request.resource in GRAPH_RESOURCES \
                and not request.subresource:
            return self.authorize_graph_read(node, request)
        if any(self._matcher.rule_allows(rule, request) for rule in self.rules):
            return Decision.ALLOW
        return Decision.NO_OPINION

    def authorize_graph_read(self, node: str, request: Request) -> Decision:
        # Reads by name only: a node never lists every secret of a namespace.
        if request.verb not in READ_VERBS or not request.name:
            return Decision.NO_OPINION
        namespace = "" if request.resource == "persistentvolumes" else request.namespace
        if self.graph.reachable(node, request.resource, namespace, request.name):
            return Decision.ALLOW
        return Decision.NO_OPINION
