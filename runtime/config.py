"""Loading `trigger_config.py` and resolving the database the runtime executes on."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from runtime.retry import RetryConfig

ENV_DATABASE_URL = "TASKPACK_DATABASE_URL"
ENV_PROJECT_ROOT = "TASKPACK_PROJECT_ROOT"


class ProjectConfig(BaseModel):
    project: str = "taskpack"
    dirs: list[str] = Field(default_factory=lambda: ["tasks"])
    retry: RetryConfig = Field(default_factory=RetryConfig)
    max_duration: float = Field(3600, gt=0, description="default seconds an attempt may run")
    database_url: str | None = None
    # Worker tuning; the defaults suit both SQLite and PostgreSQL.
    # A trigger wakes the worker's queue itself (in its process; NOTIFY on PostgreSQL; a datagram on SQLite): the poll
    # is the safety net for what nothing announces (a delay running out, a queue-wide slot freed on another worker, a
    # lost wake-up). Each poll is a dequeue transaction per queue: every 20 ms, an idle worker of this project's tasks
    # spent ~57 % of a core polling; every 0.25 s, ~10 %.
    queue_polling_interval: float = Field(0.25, gt=0, description="seconds between queue polls of a worker")
    heartbeat_interval: float = Field(2.0, gt=0)
    dead_worker_after: float = Field(15.0, gt=0, description="a worker silent this long is declared dead")
    # seconds between writes of changed run metadata: a UI following a run over SSE sees a change within this plus the
    # API's poll (issue 12's goal: p95 ≤ 500 ms); only metadata that changed is written, so an idle run costs nothing
    metadata_flush_interval: float = Field(0.25, gt=0)
    # Code versions (runtime.versions): whether a worker takes over not-yet-started runs triggered for a version no
    # living worker runs ("adopt": nothing of them ran, so they run on the new code) or leaves them PENDING_VERSION
    # ("strict"); and how long a version may be without a worker before its started runs end CRASHED (the same wait
    # applies to a task no living worker of its version defines any more: TaskNotRegistered).
    version_adoption: Literal["adopt", "strict"] = "adopt"
    version_grace_period: float = Field(300.0, gt=0, description="seconds a version may have no worker before its started runs end CRASHED")
    # SQLite (WAL mode): whether each commit of a run's records waits for the disk. NORMAL (the default, as Rails 7.1+
    # sets up SQLite): a commit survives the process being killed (SIGKILL, OOM: what crash recovery is for), and a
    # power loss or OS crash may take the last commits back (the file stays consistent: a run triggered in them is
    # gone, a step recorded in them runs again, as after a crash in the at-least-once window). FULL: every commit is flushed to the disk first, which costs a flush per
    # trigger, claim and outcome, one writer at a time (~0.4 ms each on this machine's disk when idle, several ms under
    # load): ~25-40 % fewer runs per second (bench/runtime_bench.py). PostgreSQL keeps its own settings.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "NORMAL"


def project_root() -> Path:
    """The folder holding trigger_config.py: $TASKPACK_PROJECT_ROOT, else the nearest parent of the cwd that has one."""
    return _project_root(os.environ.get(ENV_PROJECT_ROOT), os.getcwd())


@lru_cache(maxsize=32)
def _project_root(env: str | None, cwd: str) -> Path:
    # Every trigger stamps its run with the code version, which starts here: the walk up from the cwd (a resolve and
    # a stat per parent) was ~7 % of a trigger's CPU. Kept per (variable, cwd), as the project's config is per process.
    if env:
        return Path(env).resolve()
    here = Path(cwd).resolve()
    for folder in (here, *here.parents):
        if (folder / "trigger_config.py").is_file():
            return folder
    return here


def task_dir(root: Path, folder: str) -> tuple[Path, Path] | None:
    """Where a configured task dir is: (the folder, the folder its modules are named from), or None.

    Under the project root first; a dir missing there is the importable package of that name (`tasks` -> the
    installed `tasks` package, `api/webhooks/tasks` -> `api.webhooks.tasks`), found without running it (only its
    parent packages are imported). So a folder with no task code of its own (a fresh project folder) runs the installed
    tasks with `taskpack dev`, and versions its runs by them (runtime.versions)."""
    top = (root / folder).resolve()
    if top.is_dir():
        return top, root
    parts = Path(folder).parts
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    try:
        spec = importlib.util.find_spec(".".join(parts))
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if len(locations) != 1:  # not a package, or a namespace package spread over several folders
        return None
    found = Path(locations[0]).resolve()
    return (found, found.parents[len(parts) - 1]) if found.is_dir() else None


def load_config() -> ProjectConfig:
    """The project's `config` from trigger_config.py, or the built-in defaults when there is none."""
    return _load_config(project_root())


@lru_cache(maxsize=8)
def _load_config(root: Path) -> ProjectConfig:
    """Read once per project root. It was read once per process: a process that changed folders (a test suite does)
    kept the first folder's config, the defaults if that one had none, and its code version with it."""
    path = root / "trigger_config.py"
    if not path.is_file():
        return ProjectConfig()
    spec = importlib.util.spec_from_file_location("trigger_config", path)
    assert spec and spec.loader
    module = sys.modules.get("trigger_config")
    if module is None or getattr(module, "__file__", None) != str(path):
        module = importlib.util.module_from_spec(spec)
        sys.modules["trigger_config"] = module
        spec.loader.exec_module(module)
    cfg = getattr(module, "config", None)
    if not isinstance(cfg, ProjectConfig):
        raise RuntimeError(f"{path} must define `config = ProjectConfig(...)`")
    return cfg


def default_sqlite_url() -> str:
    folder = project_root() / ".taskpack"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'taskpack.sqlite'}"


def resolve_database_url(explicit: str | None = None) -> str:
    """explicit argument > $TASKPACK_DATABASE_URL > trigger_config.database_url > the embedded SQLite file."""
    url = explicit or os.environ.get(ENV_DATABASE_URL) or load_config().database_url
    if not url:
        return default_sqlite_url()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url
