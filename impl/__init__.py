"""The reference implementation: deterministic, sans-I/O cores on a simulated world."""
