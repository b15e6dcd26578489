"""The key-value store's specification: the sequential models a linearizability checker replays
(``spec.kv.model``, by value), the etcd model that answers every request whole
(``spec.kv.store_model``) and the judge that holds every answer of a run against it
(``spec.kv.responses``), the watch guarantees as predicates (``spec.kv.watch``) and the store's
invariants (``spec.kv.invariants``), each broken by a bug in impl/etcd/bugs.py.
"""

from spec.kv.invariants import INVARIANTS

__all__ = ["INVARIANTS"]
