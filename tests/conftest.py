"""Hypothesis profiles (DESIGN.md, "Test profiles"): dev (fast, local), ci (derandomized and
bounded so `make test` stays under 10 minutes on 2 cores), deep (long nightly searches).

Pick one with --hypothesis-profile; `make test` uses ci. Without the flag, dev applies.
"""

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=_QUIET)
settings.register_profile("deep", max_examples=5000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile("dev")
