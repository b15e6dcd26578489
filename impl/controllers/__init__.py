"""The controller manager's machinery (issue 11), built up piece by piece. The modules so far:

- ``workqueue``: client-go's rate-limiting, delaying work queue (dedup, one worker per key,
  re-queue when added while processing, per-item exponential backoff and a token bucket), in
  ticks.

It is sans-I/O: time comes in as an explicit tick.
"""

__all__: list[str] = []
