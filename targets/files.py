"""User targets from a small TOML or JSON file (``--target-file board.toml``).

A file describes one target at the top level, or several as a ``[[targets]]`` array (JSON: a
``"targets"`` list). ``base`` starts from a built-in target and overrides what the file says::

    name = "rpi4"
    description = "Raspberry Pi 4 Model B, 64-bit Raspberry Pi OS"
    base = "cortex-a72"

    # or spell it out: a TVM target in dict form, the library's architecture, the linker
    [tvm]
    kind = "llvm"
    mtriple = "aarch64-linux-gnu"
    mcpu = "cortex-a72"
    mattr = ["+neon"]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compiler.errors import TargetError

from .registry import TARGETS
from .spec import TargetSpec, spec_from_dict


def load_target_file(path: str | Path) -> list[TargetSpec]:
    """Every target a board file defines; errors name the file and the field."""
    path = Path(path)
    data = _parse(path)
    tables = data.get("targets") if isinstance(data, dict) and "targets" in data else [data]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise TargetError(f"{path}: expected a target table, or a non-empty 'targets' list of tables")
    specs = [_one(table, path) for table in tables]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TargetError(f"{path}: target(s) {duplicates} defined more than once")
    return specs


def load_target_files(paths: list[str]) -> list[TargetSpec]:
    return [spec for path in paths for spec in load_target_file(path)]


def _one(table: dict[str, Any], path: Path) -> TargetSpec:
    base_name = table.get("base")
    if base_name is not None and base_name not in TARGETS:
        raise TargetError(f"{path}: base '{base_name}' is not a built-in target; known: {', '.join(TARGETS)}")
    try:
        return spec_from_dict({k: v for k, v in table.items() if k != "base"}, str(path),
                              TARGETS[base_name] if base_name else None)
    except ValueError as err:
        label = f" target '{table['name']}'" if isinstance(table.get("name"), str) else ""
        raise TargetError(f"{path}:{label} {err}") from None


def _parse(path: Path) -> Any:
    if not path.is_file():
        raise TargetError(f"target file {path} does not exist")
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise TargetError(f"{path}: not valid JSON: {err}") from None
    if path.suffix.lower() != ".toml":
        raise TargetError(f"target file {path} must end in .toml or .json")
    toml = _toml_module(path)
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as err:
        raise TargetError(f"{path}: not valid TOML: {err}") from None


def _toml_module(path: Path):
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise TargetError(f"{path}: reading TOML needs Python 3.11+ or 'pip install tomli'; "
                              "or write the board file as JSON") from None
    return tomllib
