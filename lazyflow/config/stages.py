"""The [[stages]] of a config: built-in stage names, the algebra's Factor, and user classes
imported as ``module:Class``."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lazyflow import stages as _stages
from lazyflow.algebra import Factor
from lazyflow.config.values import build, choices, near_miss, show
from lazyflow.errors import ConfigError
from lazyflow.stages.base import Stage


def stage_registry() -> dict[str, type[Stage]]:
    """Every stage class exported by `lazyflow.stages`, and `Factor`, by class name."""
    found = {}
    for name in _stages.__all__:
        obj = getattr(_stages, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Stage)
            and obj is not Stage
            and dataclasses.is_dataclass(obj)
        ):
            found[name] = obj
    found["Factor"] = Factor  # the factor algebra's stage; its `term` is a formula string
    return found


def parse_stages(tables: Any, base_dir: Path | None = None) -> tuple[Stage, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError("stages: must be an array of tables, written [[stages]]")
    built = []
    for i, table in enumerate(tables, start=1):
        where = f"stages[{i}]"
        cls = stage_class(table.get("type"), where, base_dir)
        params = {k: v for k, v in table.items() if k != "type"}
        built.append(build(cls, params, where))
    return tuple(built)


def stage_class(kind: Any, where: str, base_dir: Path | None = None) -> type[Stage]:
    """The class a ``[[stages]] type`` names: a built-in's name (`stage_registry`), or
    ``"module.path:ClassName"`` for a user's `Stage` subclass, imported with the config's
    folder `base_dir` searched first. It must be a dataclass deriving from `lazyflow.Stage`."""
    registry = stage_registry()
    if kind is None:
        raise ConfigError(f"{where}.type: missing; one of {choices(registry)}")
    if not isinstance(kind, str):
        raise ConfigError(f"{where}.type: expected a string, got {show(kind)}")
    if kind in registry:
        return registry[kind]
    if ":" not in kind:
        raise ConfigError(
            f"{where}.type: unknown stage {kind!r}{near_miss(kind, registry)}; one of "
            f"{choices(registry)}, or 'package.module:ClassName' for your own Stage subclass"
        )
    module_name, _, name = kind.partition(":")
    module = _import(module_name, f"{where}.type", base_dir)
    cls = getattr(module, name, None)
    if cls is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(
            f"{where}.type: module '{module_name}' has no {name!r}{near_miss(name, names)}"
        )
    if not (isinstance(cls, type) and issubclass(cls, Stage) and dataclasses.is_dataclass(cls)):
        raise ConfigError(
            f"{where}.type: {kind!r} is not a lazyflow stage: a stage in a config must be a "
            "dataclass subclass of lazyflow.Stage (@dataclass(frozen=True) class X(lf.Stage))"
        )
    return cls


def _import(module_name: str, where: str, base_dir: Path | None) -> types.ModuleType:
    """Import `module_name`, with `base_dir` first on ``sys.path`` during the import."""
    added = base_dir is not None and str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module '{module_name}' ({exc})") from exc
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{where}: importing module '{module_name}' failed ({problem})") from exc
    finally:
        if added:
            sys.path.remove(str(base_dir))
