"""Short text for stages and pipelines: only the parameters that differ from their defaults.

`stage_settings` is the plain-data form (configs, reports, saved results); `stage_repr` and
`pipeline_repr` the text of ``repr(stage)`` in a pipeline and of ``repr(pipeline)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

#: A pipeline whose one-line repr is longer than this prints one stage per line.
LINE_WIDTH = 88


def stage_settings(stage: Any) -> dict[str, Any]:
    """``{"type": class name, parameter: value, ...}`` with the dataclass fields whose value
    differs from their default (every field without a default); a plain callable has only
    its type (its ``__name__``)."""
    if not dataclasses.is_dataclass(stage) or isinstance(stage, type):
        return {"type": getattr(stage, "__name__", type(stage).__name__)}
    changed = {}
    for f in dataclasses.fields(stage):
        if not f.init:
            continue
        value = getattr(stage, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            changed[f.name] = value
            continue
        if not _same(value, default):
            changed[f.name] = value
    return {"type": type(stage).__name__} | changed


def _same(value: Any, default: Any) -> bool:
    """Equal, a bool never equal to a number (True is not 1)."""
    if isinstance(value, bool) != isinstance(default, bool):
        return False
    try:
        return bool(value == default)
    except Exception:  # an ``==`` that does not give a bool (arrays, expressions)
        return value is default


def stage_repr(stage: Any) -> str:
    """``Class(param=value, ...)`` with the non-default parameters."""
    settings = stage_settings(stage)
    name = settings.pop("type")
    if not dataclasses.is_dataclass(stage):
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


def pipeline_repr(stages: Sequence[Any]) -> str:
    """``A() >> B(k=2.0)`` on one line when it fits in `LINE_WIDTH`, else one stage per line
    inside ``Pipeline([...])``."""
    parts = [stage_repr(s) for s in stages]
    line = " >> ".join(parts)
    if len(line) <= LINE_WIDTH:
        return line
    return "Pipeline([\n" + "".join(f"    {p},\n" for p in parts) + "])"
