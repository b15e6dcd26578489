"""What the Node authorizer promises, as z3 formulas over a symbolic request.

Kubernetes documentation, "Using Node Authorization": a kubelet authenticates as
``system:node:NAME`` in group ``system:nodes``, and may read a secret, configmap or
PersistentVolumeClaim only when a pod bound to its node references it (in the pod's namespace),
and a PersistentVolume only when it is bound to such a claim. Anything the node may touch among
those objects is therefore *referenced*: some pod of the node names it.

The node graph is read by shape (spec/ imports nothing from impl/): pods with ``namespace, node,
secrets, configmaps, claims``; ``volumes`` as ``((namespace, claim), volume)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable

import z3

from spec.rbac.model import SymbolicRequest

__all__ = ["NODE_USER_PREFIX", "NODES_GROUP", "GRAPH_RESOURCES", "node_identity", "graph_object", "referenced",
           "node_may_touch"]

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
GRAPH_RESOURCES = ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")
_FIELD = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}


def node_identity(q: SymbolicRequest, node: str) -> z3.BoolRef:
    """The request comes from node ``node``: user ``system:node:NODE``, in ``system:nodes``."""
    return z3.And(q.equals("user", NODE_USER_PREFIX + node), q.member.get(NODES_GROUP, z3.BoolVal(False)))


def graph_object(q: SymbolicRequest) -> z3.BoolRef:
    """The request is about a secret, configmap, PVC or PV (core group; any verb, any subresource)."""
    return z3.And(q.resource_request, q.equals("api_group", ""), q.one_of("resource", GRAPH_RESOURCES))


def referenced(q: SymbolicRequest, graph, node: str) -> z3.BoolRef:
    """Some pod bound to ``node`` references the object ``q`` names (a PV through its claim)."""
    pods = [p for p in graph.pods if p.node == node]
    terms = []
    for resource, field in _FIELD.items():
        terms += [z3.And(q.equals("resource", resource), q.equals("namespace", p.namespace), q.equals("name", name))
                  for p in pods for name in getattr(p, field)]
    claims = {(p.namespace, c) for p in pods for c in p.claims}
    terms += [z3.And(q.equals("resource", "persistentvolumes"), q.equals("name", volume))
              for claim, volume in graph.volumes if claim in claims]
    return z3.Or(terms + [z3.BoolVal(False)])


def node_may_touch(q: SymbolicRequest, graph, nodes: Iterable[str]) -> z3.BoolRef:
    """The request comes from one of ``nodes`` and names an object that node's pods reference."""
    return z3.Or([z3.And(node_identity(q, n), referenced(q, graph, n)) for n in nodes] + [z3.BoolVal(False)])
