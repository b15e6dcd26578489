"""RBAC: the invariants, and Kubernetes RBAC semantics as a z3 model over a finite universe.

- ``universe``: the finite set of values a policy's requests can take (plus one fresh per field).
- ``model``: the z3 formulas saying when a policy allows a request.
- ``node``: the Node authorizer's promise (which objects a node identity may touch), as formulas.
- ``invariants``: INVARIANTS, with their predicates.
"""

from spec.rbac.invariants import INVARIANTS, first_decisive
from spec.rbac.model import RbacModel, SymbolicRequest, selector_matches
from spec.rbac.universe import OTHER, Universe, universe_of

__all__ = ["INVARIANTS", "first_decisive", "RbacModel", "SymbolicRequest", "selector_matches", "OTHER",
           "Universe", "universe_of"]
