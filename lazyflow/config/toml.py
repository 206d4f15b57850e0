"""Reading a TOML config file safely: a regular UTF-8 file of bounded size and nesting."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lazyflow.errors import ConfigError, DataError

#: The largest config file read, in bytes (a config is a few kB; this bounds a wrong path).
MAX_CONFIG_BYTES = 1 << 24


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables. `DataError` if it cannot be read (missing, unreadable);
    `ConfigError` if it is not a regular file (a folder, /dev/zero, a FIFO: never read, so
    never a hang), larger than `MAX_CONFIG_BYTES`, not UTF-8, not TOML or nested too deep."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"config {path}: not a regular file")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {path}: larger than {MAX_CONFIG_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"config {path}: cannot read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark (Windows editors) is skipped
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"config {path}: nested too deeply to parse") from exc
    if _depth(raw) > MAX_DEPTH:
        raise ConfigError(f"config {path}: nested deeper than {MAX_DEPTH} levels")
    return raw


#: The deepest nesting of tables and arrays a config may have (real ones have about 4).
MAX_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest in `value` (0 for a scalar), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, Mapping | list):
            deepest = max(deepest, depth + 1)
            todo.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, Mapping) else item)
            )
    return deepest
