"""An instance's Prometheus metrics, through the ``prometheus_client`` library.

Names follow kube-apiserver's: ``apiserver_request_total`` by verb, resource and code,
``apiserver_request_duration_seconds`` (here in ticks, so ``_ticks``), the admission step and
authorization decision counters. Each instance has its own registry (several instances live in
one process).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["ServerMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS_TICKS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("apiserver_request_total", "Requests served, by verb, resource and HTTP code.",
                                ("verb", "group", "resource", "subresource", "code"), registry=self.registry)
        self.duration = Histogram("apiserver_request_duration_ticks", "Request latency in simulated ticks.",
                                  ("verb", "resource"), buckets=DURATION_BUCKETS_TICKS, registry=self.registry)
        self.admission = Counter("apiserver_admission_step_total", "Admission steps run, by plugin and outcome.",
                                 ("operation", "plugin", "type", "rejected"), registry=self.registry)
        self.authorization = Counter("apiserver_authorization_decisions_total",
                                     "Authorization decisions, by decision.", ("decision",), registry=self.registry)
        self.webhooks = Counter("apiserver_admission_webhook_request_total",
                                "Calls to admission webhooks, by webhook and outcome.",
                                ("name", "type", "outcome"), registry=self.registry)

        self._children: dict[tuple, object] = {}

    def child(self, metric, *labels: str):
        """``metric.labels(*labels)``, remembered: the library's lookup costs more than the count."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def request_done(self, verb: str, group: str, resource: str, subresource: str, code: int, ticks: int) -> None:
        self.child(self.requests, verb, group, resource, subresource, str(code)).inc()
        self.child(self.duration, verb, resource).observe(ticks)

    def text(self) -> str:
        return generate_latest(self.registry).decode()
