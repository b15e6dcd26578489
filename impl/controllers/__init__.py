"""The controller manager's machinery (issue 11), built up piece by piece. The modules so far:

- ``workqueue``: client-go's rate-limiting, delaying work queue (dedup, one worker per key,
  re-queue when added while processing, per-item exponential backoff and a token bucket), in
  ticks.
- ``leaderelection``: client-go's leader election over a coordination.k8s.io/v1 Lease (lease
  duration, renew deadline, retry period in ticks; no fencing, as in Kubernetes).
- ``connection``: a controller's connection to the API server instances (client-go's transport).
- ``informer``: client-go's shared informer for one resource (reflector, indexer, handlers).
- ``api``: the interface a reconciler is written against (controller-runtime's shape).
- ``host``: a controller process as a node of the world: informers, workqueues, workers and
  leader election around its reconcilers.
- The reconcilers: ``replicaset`` and ``deployment`` (with ``podtemplate``'s hashing, ownership
  and availability rules), ``namespace``, ``serviceaccount``, ``garbagecollector``,
  ``nodelifecycle`` (with taint eviction), ``job``, ``endpoints``, ``pvbinder``, the
  ``scheduler``, and the simulated ``kubelet`` (node registration, Lease heartbeats, pods run to
  Ready, exits and graceful deletion).

Not yet: the controllers area that runs them together under faults (``checks/controllers``), the
invariants (``spec/controllers``) and the catalog (``bugs.py``). A reconciler is handed its clock
(``clock=``) when it is built; the interface has none of its own yet.

The cores are sans-I/O: time comes in as an explicit tick, requests go out as plain data.
"""

__all__: list[str] = []
