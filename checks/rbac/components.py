"""Which classes make up the authorizers under check: the reference, or one bug swapped in.

A catalog bug's ``override`` subclasses exactly one reference class; ``Components.with_bug``
puts it in that class's slot, so every check builds its authorizers the same way.
"""

from __future__ import annotations

import attrs

from impl.apiserver.authz.chain import UnionAuthorizer
from impl.apiserver.authz.escalation import EscalationGuard
from impl.apiserver.authz.identity import Authenticator
from impl.apiserver.authz.node import NodeAuthorizer
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer, RbacSemantics
from impl.catalog import Bug

__all__ = ["Components"]

_SLOTS = (("semantics", RbacSemantics), ("rbac", RBACAuthorizer), ("chain", UnionAuthorizer),
          ("node", NodeAuthorizer), ("guard", EscalationGuard), ("authenticator", Authenticator))


@attrs.frozen
class Components:
    semantics: type = RbacSemantics
    rbac: type = RBACAuthorizer
    chain: type = UnionAuthorizer
    node: type = NodeAuthorizer
    guard: type = EscalationGuard
    authenticator: type = Authenticator

    @classmethod
    def with_bug(cls, bug: Bug | None) -> "Components":
        if bug is None:
            return cls()
        for slot, base in _SLOTS:
            if isinstance(bug.override, type) and issubclass(bug.override, base):
                return cls(**{slot: bug.override})
        raise ValueError(f"bug {bug.name}: override {bug.override!r} fits no authorizer slot")

    def authorizer(self, policy: Policy) -> RBACAuthorizer:
        return self.rbac(policy, self.semantics())
