"""The webhook authorizer, with an in-process callable standing in for the remote service.

The real one POSTs a SubjectAccessReview and reads ``status.allowed`` / ``status.denied``
(k8s.io/apiserver ``plugin/pkg/authorizer/webhook``). What can go wrong is modelled as values the
callable returns or raises: the service is down or times out (``WebhookUnavailable``), or it
answers garbage (anything but a ``WebhookReply``). Either way the ``failure_policy`` decides:
``NoOpinion`` (the default; the next authorizer decides) or ``Deny``. Answers are cached per
request (up to ``cache_size_max`` of them), as the real authorizer caches them for a TTL;
failures are never cached.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from impl.apiserver.authz.types import Decision, Request

__all__ = ["WebhookReply", "WebhookUnavailable", "WebhookAuthorizer", "FAILURE_POLICIES"]

FAILURE_POLICIES = ("NoOpinion", "Deny")


@attrs.frozen
class WebhookReply:
    """``SubjectAccessReview.status``: ``denied`` only counts when ``allowed`` is false."""

    allowed: bool = False
    denied: bool = False


class WebhookUnavailable(Exception):
    """The remote service could not be reached or did not answer in time."""


class WebhookAuthorizer:
    def __init__(self, review: Callable[[Request], object], failure_policy: str = "NoOpinion",
                 cache_size_max: int = 1024) -> None:
        if failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure policy must be one of {FAILURE_POLICIES}, got {failure_policy!r}")
        self.review = review
        self.failure_policy = failure_policy
        self.cache_size_max = cache_size_max
        self._cache: dict[Request, Decision] = {}
        self.failures = 0

    def on_failure(self) -> Decision:
        self.failures += 1
        return Decision.DENY if self.failure_policy == "Deny" else Decision.NO_OPINION

    def authorize(self, request: Request) -> Decision:
        if request in self._cache:
            return self._cache[request]
        try:
            reply = self.review(request)
        except WebhookUnavailable:
            return self.on_failure()  # failures are never cached: the next call retries
        if not isinstance(reply, WebhookReply):
            return self.on_failure()
        decision = Decision.ALLOW if reply.allowed else (Decision.DENY if reply.denied else Decision.NO_OPINION)
        if len(self._cache) < self.cache_size_max:
            self._cache[request] = decision
        return decision
