"""Controllers written the way a user of kube-invariants writes theirs: plain Python against
``impl.controllers.api`` (a read-only informer cache and a client whose calls a reconcile yields),
checked by the same harness as the reference controllers."""
