"""Which classes a simulated etcd cluster is built from. The reference uses EtcdMember and
EtcdClient; a catalog bug (bugs.py) names a subclass of one of them instead."""

from __future__ import annotations

import attrs

from impl.etcd.client import EtcdClient
from impl.etcd.member import EtcdMember

__all__ = ["EtcdParts"]


@attrs.frozen
class EtcdParts:
    member: type[EtcdMember] = EtcdMember
    client: type[EtcdClient] = EtcdClient
