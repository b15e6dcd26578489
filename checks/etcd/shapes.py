"""The reference's requests, responses and events as the plain shapes spec/kv/store_model.py
compares: nested dicts named by etcd's protobuf fields, an error as ``{"error": name}``."""

from __future__ import annotations

from typing import Any

import attrs

from impl.etcd.errors import EtcdError, error_from_message
from impl.etcd.types import Event

__all__ = ["response_shape", "error_shape", "event_shape"]


def response_shape(response: Any) -> dict:
    return attrs.asdict(response)


def error_shape(error: EtcdError | str) -> dict:
    """An error raised by the store, or the message a client received."""
    if isinstance(error, str):
        typed = error_from_message(error)
        return {"error": type(typed).__name__ if typed is not None else error}
    return {"error": type(error).__name__}


def event_shape(event: Event) -> dict:
    return {"type": event.type, "kv": attrs.asdict(event.kv)}
