"""The Endpoints controller: for every Service with a selector, an Endpoints object of the same
name listing the IPs of the pods it selects, ready ones in ``addresses``, the others in
``notReadyAddresses``, with the Service's ports.

Sources: kube ``pkg/controller/endpoint/endpoints_controller.go`` (``syncService``,
``podToEndpointAddressForService``, ``addEndpointSubset``), ``staging/src/k8s.io/endpointslice/util``
(``ShouldPodBeInEndpoints``), ``pkg/api/v1/endpoints`` (``RepackSubsets``), ``pkg/api/v1/pod``
(``IsPodReady``, ``FindPort``) and the Service concepts page ("Services without selectors"). The
rules kept:

- A Service without a selector gets nothing from this controller: its Endpoints are the user's.
- Pods count when they match the selector in the Service's namespace, have an IP, are not
  terminal (Succeeded or Failed) and are not being deleted (unless the Service sets
  ``publishNotReadyAddresses``). A pod whose Ready condition is True, or every pod when
  ``publishNotReadyAddresses`` is set, is an address; the others are not-ready addresses.
- An address carries the pod's IP, its node, a ``targetRef`` to the pod (kind, namespace, name,
  uid: no resourceVersion, which would rewrite the object on every pod change), and the pod's
  hostname when its ``subdomain`` is the Service's name.
- Each Service port becomes an endpoint port (name, port, protocol, TCP by default) whose number
  is the ``targetPort``: a number, or the container port of that name (a pod without it is left
  out for that port), or the Service port when none is given. A Service with no ports (headless)
  lists addresses without ports. Ports offered by the same addresses share one subset.
- The object is written only when its subsets or labels (the Service's, plus
  ``service.kubernetes.io/headless`` for ``clusterIP: None``) differ from what the cache holds:
  created if absent, else updated under the cached ``resourceVersion``. When the Service is
  gone, its Endpoints are deleted (an Endpoints object of no Service is an orphan and goes too,
  except the leader-election ones kube also spares).

Left out, and why: EndpointSlices (a separate controller in kube), the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation and the 1000-address truncation
with ``endpoints.kubernetes.io/over-capacity``: no reader here; IP families (pods have one IP
here); the ``endpointslice.kubernetes.io/skip-mirror`` label; events and metrics. Subsets,
addresses and ports are sorted by value where kube sorts subsets by a hash of their ports: the
content is the same, and the order stays deterministic.
"""

from __future__ import annotations

from typing import Any

from impl.controllers.api import Cache, Client, Request, Result, Watch
from impl.controllers.api import meta as _meta

__all__ = ["EndpointsController", "endpoint_subsets", "HEADLESS_LABEL", "LEADER_ANNOTATION"]

HEADLESS_LABEL = "service.kubernetes.io/headless"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


def _selector(service: dict[str, Any]) -> dict[str, str]:
    return (service.get("spec") or {}).get("selector") or {}


def _services_of_pod(pod: dict[str, Any], cache: Cache) -> list[Request]:
    """getPodServiceMemberships: the Services in the pod's namespace that select it."""
    namespace, labels = _meta(pod).get("namespace", ""), _meta(pod).get("labels") or {}
    return [Request(namespace, _meta(service)["name"]) for service in cache.list("services", namespace)
            if _selector(service) and all(labels.get(k) == v for k, v in _selector(service).items())]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def should_be_in_endpoints(pod: dict[str, Any], include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not _meta(pod).get("deletionTimestamp")


def _pod_ip(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    return status.get("podIP") or ((status.get("podIPs") or [{}])[0].get("ip") or "")


def address_of(pod: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """podToEndpointAddressForService."""
    meta, spec = _meta(pod), pod.get("spec") or {}
    address: dict[str, Any] = {"ip": _pod_ip(pod)}
    if spec.get("hostname") and spec.get("subdomain") == _meta(service).get("name"):
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                            "uid": meta.get("uid", "")}
    return address


def target_port(pod: dict[str, Any], service_port: dict[str, Any]) -> int | None:
    """FindPort: a number as is; a name through the pod's container ports of the same protocol;
    None when the pod has no such port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return port.get("containerPort")
    return None


def endpoint_port(service_port: dict[str, Any], number: int) -> dict[str, Any]:
    port = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    return port


def _address_order(address: dict[str, Any]) -> tuple[str, str]:
    return address.get("ip", ""), (address.get("targetRef") or {}).get("uid", "")


def _port_order(port: dict[str, Any]) -> tuple[str, int, str]:
    return port.get("name", ""), port.get("port", 0), port.get("protocol", "")


def repack(entries: list[tuple[bool, dict[str, Any], tuple]]) -> list[dict[str, Any]]:
    """RepackSubsets over (ready, address, port) entries, the port as sorted items, ``()`` for
    none (headless): map each port to the addresses offering it, then make one subset per
    distinct set of addresses (ready or not) with all the ports they share."""
    addresses: dict[tuple[str, str], dict[str, Any]] = {}
    offering: dict[tuple, set[tuple[tuple[str, str], bool]]] = {}
    for ready, address, port in entries:
        key = _address_order(address)
        addresses[key] = address
        offering.setdefault(port, set()).add((key, ready))
    by_addresses: dict[frozenset, list[tuple]] = {}
    for port, offered in offering.items():
        by_addresses.setdefault(frozenset(offered), []).append(port)
    subsets = []
    for offered, ports in by_addresses.items():
        subset: dict[str, Any] = {}
        for field, wanted in (("addresses", True), ("notReadyAddresses", False)):
            chosen = sorted(key for key, ready in offered if ready == wanted)
            if chosen:
                subset[field] = [addresses[key] for key in chosen]
        real_ports = sorted((dict(port) for port in ports if port), key=_port_order)
        if real_ports:
            subset["ports"] = real_ports
        subsets.append(subset)
    return sorted(subsets, key=lambda subset: [_port_order(p) for p in subset.get("ports", ())])


def endpoint_subsets(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subsets of ``service``'s Endpoints for the pods it selects."""
    spec = service.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    entries = []
    for pod in pods:
        if not should_be_in_endpoints(pod, tolerate_unready):
            continue
        address, ready = address_of(pod, service), tolerate_unready or is_ready(pod)
        service_ports = spec.get("ports") or []
        if not service_ports:
            entries.append((ready, address, ()))
        for service_port in service_ports:
            number = target_port(pod, service_port)
            if number is not None:
                entries.append((ready, address, tuple(sorted(endpoint_port(service_port, number).items()))))
    return repack(entries)


class EndpointsController:
    name = "endpoints"
    watches = (Watch("services"), Watch("pods", enqueue=_services_of_pod), Watch("endpoints"))

    def reconcile(self, request: Request, cache: Cache, client: Client):
        service = cache.get("services", request.namespace, request.name)
        current = cache.get("endpoints", request.namespace, request.name)
        if service is None:
            if current is None or LEADER_ANNOTATION in (_meta(current).get("annotations") or {}):
                return Result()
            answer = yield client.delete("endpoints", request.namespace, request.name)
            return Result() if answer.ok or answer.not_found else Result(requeue=True)
        if not _selector(service):
            return Result()
        pods = cache.list("pods", request.namespace, {"matchLabels": _selector(service)})
        wanted = self.endpoints_for(service, sorted(pods, key=lambda pod: _meta(pod).get("name", "")))
        wanted["metadata"]["labels"] = self.wanted_labels(service, current)
        if current is not None and self.unchanged(current, wanted):
            return Result()
        if current is None:
            answer = yield client.create("endpoints", wanted)
        else:
            wanted["metadata"] = {**_meta(current), "labels": wanted["metadata"]["labels"]}
            answer = yield client.update("endpoints", wanted)
        return Result() if answer.ok else Result(requeue=True)

    def wanted_labels(self, service: dict[str, Any], current: dict[str, Any] | None) -> dict[str, str]:
        """The Endpoints' labels: the Service's, whatever the Endpoints carry now (syncService
        sets them on every sync)."""
        return self.labels_for(service)

    @staticmethod
    def labels_for(service: dict[str, Any]) -> dict[str, str]:
        labels = dict(_meta(service).get("labels") or {})
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        return labels

    def endpoints_for(self, service: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
        meta = _meta(service)
        return {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": self.labels_for(service)},
                "subsets": endpoint_subsets(service, pods)}

    @staticmethod
    def unchanged(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        """Nothing to write: same subsets and labels."""
        return ((current.get("subsets") or []) == wanted["subsets"]
                and (_meta(current).get("labels") or {}) == wanted["metadata"]["labels"])
