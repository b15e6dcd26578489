"""RBAC analyses: can-i, who-can, diff and escalations over loaded policy; the z3 equivalence
proof of the authorizer against ``spec.rbac``; the ``rbac`` area of ``kinv check``."""

__all__: list[str] = []
