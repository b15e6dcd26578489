"""The ``controllers`` area (issue 11): the controller manager, the scheduler and the kubelets
run together in one simulated world, judged by the apiserver invariants for now.

- ``cluster``: the harness (``ControllersCluster``): store, API server instances, kubectl,
  elected controller managers, the scheduler and one kubelet per node; ``converged()``.
- ``sequence``: the seed's sequence (kubectl creates a Deployment, it ends with pods Running)
  drawn from a run's ``ApiLog`` as a Mermaid sequence diagram.

Not yet: the invariants (``spec/controllers``), the state machine with Sieve's perturbations,
scenario commands, and the area's entry for ``kinv check``.
"""

__all__: list[str] = []
