"""The user's own controller: the reconciler class named on the command line
(``--controller package.module:Class``) and the objects it works on (``-f FILE|DIR``, YAML)."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from checks.area import InputError
from impl.apiserver.resources import UnknownResource, resource_for_kind

__all__ = ["load_controller", "read_manifests", "CONTROLLER_NAME"]

CONTROLLER_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def load_controller(name: str) -> Callable[[], Any]:
    """``package.module:Class`` as a factory of the user's reconciler; a one-line error if it
    cannot be imported or is not a reconciler (``name``, ``watches``, ``reconcile``)."""
    if not CONTROLLER_NAME.match(name):
        raise InputError(f"--controller wants MODULE:CLASS (e.g. examples.settings_copier:SettingsCopier), not {name!r}")
    module_name, _, class_name = name.partition(":")
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # the user's package, from where kinv runs (as uvicorn does)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the user's module: any error importing it is theirs to see
        raise InputError(f"cannot import {module_name}: {type(error).__name__}: {error}") from None
    factory = getattr(module, class_name, None)
    if factory is None:
        raise InputError(f"{module_name} has no {class_name}")
    try:
        reconciler = factory()
    except Exception as error:
        raise InputError(f"{name}() failed: {type(error).__name__}: {error}") from None
    missing = [attr for attr in ("name", "watches", "reconcile") if not hasattr(reconciler, attr)]
    if missing:
        raise InputError(f"{name} is not a reconciler: it has no {', '.join(missing)} (impl/controllers/api.py)")
    return factory


def read_manifests(path: Path) -> tuple[dict[str, Any], ...]:
    """Every object of a YAML (or JSON) file, or of each such file of a folder in name order;
    a ``List`` gives its items. A one-line error for anything that is not a known object."""
    files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES) if path.is_dir() else [path]
    if not path.exists() or not files:
        raise InputError(f"-f {path}: {'no such file or folder' if not path.exists() else 'no .yaml, .yml or .json file'}")
    objects = []
    for file in files:
        try:
            documents = [d for d in yaml.safe_load_all(file.read_text()) if d is not None]
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InputError(f"-f {file}: {str(error).splitlines()[0]}") from None
        for document in documents:
            items = document.get("items") if isinstance(document, dict) and document.get("kind") == "List" else [document]
            for obj in items or []:
                objects.append(_checked(file, obj))
    return tuple(objects)


def _checked(file: Path, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
        raise InputError(f"-f {file}: every object needs apiVersion, kind and metadata.name")
    try:
        resource_for_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    except UnknownResource as error:
        raise InputError(f"-f {file}: {error}") from None
    return obj
