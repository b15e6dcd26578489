"""What must hold: invariants with their statements and sources, and sequential models.

spec/ imports nothing from impl/ or checks/. Each area is a subpackage exposing ``INVARIANTS``.
"""
