"""Checking config values against the type hints of the classes they build: every error names
the key path and what is allowed, and a near miss suggests the nearest allowed name."""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union

from lazyflow.errors import ConfigError

#: Arguments of `lf.backtest` that a config does not set.
NOT_CONFIGURABLE = ("frame", "allocator", "progress")


def build(cls: type, params: Mapping[str, Any], where: str) -> Any:
    """Instantiate dataclass `cls` from `params`, then run its parameter `check()`."""
    obj = cls(**keyword_arguments(cls, params, where))
    check = getattr(obj, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return obj


def keyword_arguments(
    target: Callable[..., Any], params: Mapping[str, Any], where: str, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """Check `params` against the keyword parameters of `target` and coerce each value."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"[{where}] must be a table, got {show(params)}")
    hints = typing.get_type_hints(target)
    names = [
        p.name
        for p in inspect.signature(target).parameters.values()
        if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    label = getattr(target, "__name__", where)
    check_keys(params, names, f"{where}.", f"parameter of {label}")
    return {k: coerce(v, hints.get(k, Any), f"{where}.{k}") for k, v in params.items()}


def check_keys(table: Mapping[str, Any], allowed: Sequence[str], prefix: str, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key}: unknown {what}{near_miss(key, allowed)}; "
                f"allowed: {choices(allowed)}"
            )


def near_miss(name: str, allowed: Any) -> str:
    """`` (did you mean 'winsor'?)`` for the allowed name nearest to `name`, else ""."""
    close = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def coerce(value: Any, hint: Any, where: str) -> Any:
    """`value` converted to type `hint`, or a ConfigError naming `where` and the expected type."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is False and len(options) < len(args) and bool not in options:
            return None
        for option in options:
            try:
                return coerce(value, option, where)
            except ConfigError:
                if len(options) == 1 and isinstance(value, list | Mapping):
                    raise  # Optional[container]: the message names the bad element
    elif origin is Literal:
        if value in args:
            return value
    elif hint is bool or hint is str:
        if isinstance(value, hint):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif origin in (tuple, list, Sequence) and isinstance(value, list):
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{j}]") for j, v in enumerate(value)]
        return items if origin is list else tuple(items)
    elif origin in (dict, Mapping) and isinstance(value, Mapping):
        item = args[1] if args else Any
        return {str(k): coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: expected {describe_type(hint)}, got {show(value)}")


def describe_type(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        options = [describe_type(a) for a in args if a is not type(None)]
        if type(None) in args:
            options.append("false (None)")
        return " or ".join(options)
    if origin is Literal:
        return f"one of {choices(args)}"
    if origin in (tuple, list, Sequence):
        return f"a list of {describe_type(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin in (dict, Mapping):
        return "a table"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def choices(options: Any) -> str:
    return ", ".join(repr(o) if not isinstance(o, str) else o for o in options)


def show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"
