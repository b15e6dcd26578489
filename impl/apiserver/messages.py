"""What travels between API clients and API server instances, and between an instance and the
admission webhook services: HTTP reduced to its meaning.

- ``ApiRequest``: method, path, query and headers as kubectl sends them, a body in bytes (so a
  non-UTF-8 or oversized body is representable), and the client certificate the TLS layer
  presented.
- ``ApiResponse``: the HTTP code and the decoded JSON body (an object, a list, or a ``Status``).
- ``WatchEvent``: one event of a watch (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), sent on the
  request's stream; ``WatchClosed`` ends the stream (the server closed it: the client resumes
  from the last resourceVersion it saw, or relists on 410).
- ``WebhookCall`` / ``WebhookReply``: an AdmissionReview to a webhook service and its answer.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.apiserver.decimal_text import decimal_or_zero

__all__ = ["ApiRequest", "ApiResponse", "WatchEvent", "WatchClosed", "WebhookCall", "WebhookReply", "header"]


def header(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    """Every value of a header, its name matched case-insensitively as HTTP does."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


@attrs.frozen
class ApiRequest:
    request_id: int
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_certificate: Any = None  # authn.ClientCertificate presented in the TLS handshake

    def query_value(self, name: str) -> str | None:
        values = [value for key, value in self.query if key == name]
        return values[-1] if values else None

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"#{self.request_id} {self.method} {self.path}{'?' + query if query else ''}"


def _describe_object(body: Any) -> str:
    if not isinstance(body, dict):
        return type(body).__name__
    if body.get("kind") == "Status":
        return f"{body.get('reason') or body.get('status')}: {body.get('message', '')}"
    meta = body.get("metadata") or {}
    if "items" in body:
        return f"{body.get('kind', 'List')} of {len(body['items'])} rv={meta.get('resourceVersion', '')}"
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{body.get('kind', '?')} {where}{meta.get('name', '')} rv={meta.get('resourceVersion', '')}"


@attrs.frozen
class ApiResponse:
    request_id: int
    code: int
    body: Any = None  # decoded JSON
    text: str = ""  # a text/plain body (/metrics, /healthz)

    def describe(self) -> str:
        shown = self.text.splitlines()[0] if self.text else _describe_object(self.body)
        return f"#{self.request_id} {self.code} {shown}"


@attrs.frozen
class WatchEvent:
    """``sequence`` numbers a stream's events from 1: an HTTP stream runs over one TCP
    connection, which loses and reorders nothing; the simulated network may, so a client takes
    an event out of sequence for the connection breaking."""

    request_id: int
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK | ERROR
    object: Any
    sequence: int = 0

    @property
    def resource_version(self) -> int:
        meta = self.object.get("metadata") or {} if isinstance(self.object, dict) else {}
        text = meta.get("resourceVersion", "")
        return decimal_or_zero(text)

    def describe(self) -> str:
        return f"#{self.request_id} {self.type} {_describe_object(self.object)}"


@attrs.frozen
class WatchClosed:
    request_id: int
    reason: str = ""

    def describe(self) -> str:
        return f"#{self.request_id} watch closed" + (f" ({self.reason})" if self.reason else "")


@attrs.frozen
class WebhookCall:
    call_id: int
    webhook: str
    review: Any  # an admission.k8s.io/v1 AdmissionReview dict
    service: str = ""  # the node serving it (clientConfig.service.name, or the url's host)
    timeout_ticks: int = 10  # the webhook's timeoutSeconds (kube's default is 10)

    def describe(self) -> str:
        request = self.review.get("request", {}) if isinstance(self.review, dict) else {}
        return f"review #{self.call_id} {self.webhook} {request.get('operation', '')} {request.get('name', '')}"


@attrs.frozen
class WebhookReply:
    call_id: int
    review: Any  # the AdmissionReview with its response, or anything a broken webhook sends

    def describe(self) -> str:
        response = self.review.get("response", {}) if isinstance(self.review, dict) else {}
        allowed = response.get("allowed") if isinstance(response, dict) else None
        patched = " patched" if isinstance(response, dict) and response.get("patch") else ""
        return f"review #{self.call_id} allowed={allowed}{patched}"
