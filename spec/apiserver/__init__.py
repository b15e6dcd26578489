"""The API server's specification: the plain observations a check gathers
(``spec.apiserver.observations``), the invariants over them (``spec.apiserver.invariants``) and an
independent RBAC evaluation they judge authorization with (``spec.apiserver.rbac_oracle``).
"""

from spec.apiserver.invariants import INVARIANTS

__all__ = ["INVARIANTS"]
