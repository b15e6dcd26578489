"""Which classes a simulated cluster's control plane is built from: the reference by default; a
catalog bug (impl/controllers/bugs.py) replaces one of them with a subclass that overrides one
method, and the user's own controllers run beside the reference ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.bugs import ApiParts
from impl.controllers.deployment import DeploymentController
from impl.controllers.endpoints import EndpointsController
from impl.controllers.garbagecollector import GarbageCollector
from impl.controllers.host import ControllerHost
from impl.controllers.job import JobController
from impl.controllers.kubelet import KubeletHost
from impl.controllers.namespace import NamespaceController
from impl.controllers.nodelifecycle import NodeLifecycle, TaintEviction
from impl.controllers.podgc import PodGarbageCollector
from impl.controllers.pvbinder import VolumeBinder
from impl.controllers.replicaset import ReplicaSetController
from impl.controllers.scheduler import Scheduler
from impl.controllers.serviceaccount import ServiceAccountController

__all__ = ["ControllersParts"]

Clock = Callable[[], int]


@attrs.frozen
class ControllersParts:
    api: ApiParts = ApiParts()
    host: type[ControllerHost] = ControllerHost  # the controller manager's and the scheduler's process
    kubelet_host: type[KubeletHost] = KubeletHost
    deployment: type = DeploymentController
    replicaset: type = ReplicaSetController
    namespace: type = NamespaceController
    serviceaccount: type = ServiceAccountController
    garbage_collector: type = GarbageCollector
    node_lifecycle: type = NodeLifecycle
    taint_eviction: type = TaintEviction
    job: type = JobController
    endpoints: type = EndpointsController
    volume_binder: type = VolumeBinder
    pod_gc: type = PodGarbageCollector
    scheduler: type = Scheduler

    @property
    def apiserver(self) -> Any:
        """What ApiCluster builds its instances from."""
        return self.api.apiserver

    def manager_reconcilers(self, clock: Clock) -> tuple[Any, ...]:
        """kube-controller-manager's controllers that exist here, each on ``clock``."""
        return (self.deployment(clock=clock), self.replicaset(clock=clock), self.namespace(),
                self.serviceaccount(), self.garbage_collector(), self.node_lifecycle(clock),
                self.taint_eviction(clock), self.job(clock), self.endpoints(), self.volume_binder(),
                self.pod_gc(clock))
