"""The service account controller: every active namespace has a ``default`` ServiceAccount.

Pods name a service account (``default`` unless they say otherwise) and the ServiceAccount
admission plugin refuses a pod whose account does not exist, so a new namespace needs its
``default`` account before any pod can run there. Source: kube
``pkg/controller/serviceaccount/serviceaccounts_controller.go`` (``syncNamespace``).

Rules kept:

- The queue holds namespaces: a namespace added or updated queues itself; a ServiceAccount we
  maintain (by name) queues its namespace, so a deleted ``default`` comes back.
- A reconcile reads the caches only: nothing if the namespace is gone or its phase is not
  ``Active`` (a terminating namespace gets nothing new: its content is being deleted); for
  each account to ensure that the cache lacks, a create. AlreadyExists is success (the cache
  was behind); a refusal because the namespace is being terminated is ignored (the cache was
  behind the other way); any other failure requeues with backoff.

Left out: the informer's field selector on the account name (the cache here holds every
account; only the maintained ones queue work).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from impl.controllers.api import Answer, Call, Request, Result, Watch
from impl.controllers.api import meta as _meta

__all__ = ["ServiceAccountController", "DEFAULT_ACCOUNTS"]

DEFAULT_ACCOUNTS = ("default",)


class ServiceAccountController:
    name = "serviceaccount"
    accounts: tuple[str, ...] = DEFAULT_ACCOUNTS

    def __init__(self) -> None:
        self.watches = (Watch("namespaces"), Watch("serviceaccounts", enqueue=self._account_namespace))

    def _account_namespace(self, account: dict[str, Any], cache: Any) -> list[Request]:
        """serviceAccountDeleted: a maintained account's event queues its namespace."""
        meta = _meta(account)
        return [Request("", meta.get("namespace", ""))] if meta.get("name") in self.accounts else []

    def reconcile(self, request: Request, cache: Any, client: Any) -> Generator[Call, Answer, Result]:
        namespace = cache.get("namespaces", "", request.name)
        if namespace is None or not self.active(namespace):
            return Result()
        failed = False
        for name in self.accounts:
            if cache.get("serviceaccounts", request.name, name) is not None:
                continue
            answer = yield client.create("serviceaccounts", self.account(request.name, name))
            if not (answer.ok or answer.already_exists or answer.namespace_terminating):
                failed = True
        return Result(requeue=failed)

    @staticmethod
    def active(namespace: dict[str, Any]) -> bool:
        return (namespace.get("status") or {}).get("phase") == "Active"

    @staticmethod
    def account(namespace: str, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}

