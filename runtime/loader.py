"""Finding task definitions: in modules, in files, or under the project's task dirs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from runtime.config import load_config, project_root, task_dir
from runtime.definitions import Task


class TaskLoadError(ImportError):
    """A task module could not be imported; the message names it."""


def _tasks_in(module: ModuleType) -> list[Task]:
    return [value for value in vars(module).values() if isinstance(value, Task)]


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise TaskLoadError(f"could not import task module {name!r}: {type(exc).__name__}: {exc}") from exc


def module_name_for(path: Path, root: Path) -> str:
    rel = path.resolve().relative_to(root.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def discover_modules(dirs: Iterable[str] | None = None, root: Path | None = None) -> list[str]:
    """Module names of every .py file under the task dirs (tests and private files skipped)."""
    root = root or project_root()
    names = []
    for folder in dirs if dirs is not None else load_config().dirs:
        located = task_dir(root, folder)  # under the root, else the installed package of that name
        if located is None:
            continue
        base, named_from = located
        for path in sorted(base.rglob("*.py")):
            if any(part.startswith((".", "_")) and part != "__init__.py" for part in path.relative_to(named_from).parts):
                continue
            if path.name.startswith("test_") or path.name == "__init__.py":
                continue
            names.append(module_name_for(path, named_from))
    return names


def load_tasks(specs: Iterable[Any] | None = None) -> list[Task]:
    """Task objects from a mix of Task objects, modules and module names; None = everything under the task dirs."""
    if specs is None:
        root = str(project_root())
        if root not in sys.path:
            sys.path.insert(0, root)
        specs = discover_modules()
    found: dict[str, Task] = {}
    for spec in specs:
        if isinstance(spec, Task):
            items = [spec]
        elif isinstance(spec, ModuleType):
            items = _tasks_in(spec)
        elif isinstance(spec, str):
            items = _tasks_in(_import(spec))
        else:
            raise TaskLoadError(f"cannot load tasks from {spec!r}: pass a Task, a module or a module name")
        for item in items:
            found[item.id] = item
    return list(found.values())
