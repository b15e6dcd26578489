"""API errors as Kubernetes answers them: a ``Status`` object with a code, a reason and a message.

Sources: k8s.io/apimachinery ``pkg/api/errors`` (the constructors and their codes) and the API
conventions ("Response Status Kind"). Every refusal anywhere in the server is one ``ApiError``;
the server turns it into the ``Status`` body, so a client never sees a traceback and a refused
request changes nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "REASONS", "status_object", "success_status"]

# reason -> HTTP code (metav1.StatusReason and the code pkg/api/errors gives it).
REASONS: dict[str, int] = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Gone": 410,
    "Expired": 410,
    "RequestEntityTooLarge": 413,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "Timeout": 504,
}


class ApiError(Exception):
    """A request refused with ``reason`` (one of REASONS) and a message a user can act on.

    ``kind``/``name`` fill ``details`` as the API server does for NotFound, AlreadyExists,
    Conflict and Invalid; ``causes`` lists field errors of an Invalid answer."""

    def __init__(self, reason: str, message: str, *, kind: str = "", name: str = "", group: str = "",
                 causes: tuple[tuple[str, str], ...] = ()) -> None:
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.code = REASONS[reason]
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes
        self.cause_types: tuple[str, ...] = ()  # each cause's type, where not FieldValueInvalid

    # Named constructors with Kubernetes' own message shapes.
    @classmethod
    def not_found(cls, resource: str, name: str, group: str = "") -> "ApiError":
        return cls("NotFound", f'{_qualified(resource, group)} "{name}" not found', kind=resource, name=name,
                   group=group)

    @classmethod
    def already_exists(cls, resource: str, name: str, group: str = "") -> "ApiError":
        return cls("AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists', kind=resource,
                   name=name, group=group)

    @classmethod
    def conflict(cls, resource: str, name: str, why: str, group: str = "") -> "ApiError":
        return cls("Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                   kind=resource, name=name, group=group)

    @classmethod
    def invalid(cls, kind: str, name: str, causes: tuple[tuple[str, str], ...], group: str = "") -> "ApiError":
        listed = ", ".join(f"{field}: {why}" for field, why in causes)
        return cls("Invalid", f'{kind} "{name}" is invalid: {listed}', kind=kind, name=name, group=group,
                   causes=causes)

    @classmethod
    def forbidden(cls, resource: str, name: str, why: str, group: str = "") -> "ApiError":
        target = f'{_qualified(resource, group)} "{name}"' if name else _qualified(resource, group)
        return cls("Forbidden", f"{target} is forbidden: {why}", kind=resource, name=name, group=group)

    @classmethod
    def gone(cls, message: str) -> "ApiError":
        """A resourceVersion older than what the server still has (watch, list with Exact)."""
        return cls("Expired", message)

    def status(self) -> dict[str, Any]:
        return status_object(self)

    def __repr__(self) -> str:
        return f"ApiError({self.code} {self.reason}: {self.message})"


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def status_object(error: ApiError) -> dict[str, Any]:
    """The ``Status`` body of a refusal, shaped as metav1.Status."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": error.message, "reason": error.reason, "code": error.code}
    details: dict[str, Any] = {}
    if error.name:
        details["name"] = error.name
    if error.group:
        details["group"] = error.group
    if error.kind:
        details["kind"] = error.kind
    if error.causes:
        types = error.cause_types + ("FieldValueInvalid",) * (len(error.causes) - len(error.cause_types))
        details["causes"] = [{"reason": kind, "message": why, "field": field}
                             for kind, (field, why) in zip(types, error.causes)]
    if details:
        body["details"] = details
    return body


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a delete answers when the object is gone at once and nothing else is asked for."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body
