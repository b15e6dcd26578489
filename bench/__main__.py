import importlib
import sys

from rich.console import Console

AREAS = ("bench.raft", "bench.etcd", "bench.kv", "bench.rbac", "bench.apiserver", "bench.controllers")


def main() -> int:
    console = Console()
    only = set(sys.argv[1:])
    for module_name in AREAS:
        if only and module_name.split(".")[-1] not in only:
            continue
        importlib.import_module(module_name).run(console)
    return 0


sys.exit(main())
