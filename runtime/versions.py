"""Code versions: which version of the task code a run was triggered for, and which one a worker executes.

DBOS hands a queued run only to a worker of the run's application version, and resumes a started run only on one.
The version is `TASKPACK_VERSION` when set (a release tag, a commit), else a hash of the task modules: the `.py`
files under the configured task dirs, so the triggering process (CLI, API) and the workers of one checkout agree
without any setting, and a change to a task's code is a new version.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from runtime.config import load_config, project_root, task_dir
from runtime.errors import InputError
from runtime.store import code_versions, version_tasks

ENV_VERSION = "TASKPACK_VERSION"
MAX_VERSION_CHARS = 128


class VersionError(InputError):
    """TASKPACK_VERSION cannot be used as a version."""


def code_version() -> str:
    """The version of the task code this process runs: $TASKPACK_VERSION, else `code-<hash of the task modules>`."""
    explicit = os.environ.get(ENV_VERSION)
    if explicit is not None and explicit.strip():
        return _checked(explicit.strip())
    return hashed_version()


def hashed_version() -> str:
    """The hash of the task modules under the configured dirs (what the version is without TASKPACK_VERSION)."""
    return task_modules_hash(str(project_root()), tuple(load_config().dirs))


def _checked(version: str) -> str:
    if len(version) > MAX_VERSION_CHARS:
        raise VersionError(f"{ENV_VERSION}: at most {MAX_VERSION_CHARS} characters, got {len(version)}", field=ENV_VERSION)
    if not version.isprintable():
        raise VersionError(f"{ENV_VERSION}: must be printable text (no control characters)", field=ENV_VERSION)
    return version


@lru_cache(maxsize=8)
def task_modules_hash(root: str, dirs: tuple[str, ...]) -> str:
    """`code-` and 16 hex digits of a SHA-256 over every task module's path and bytes, in path order.

    A task dir missing under the project root is the installed package of that name (`runtime.config.task_dir`):
    in a folder with no task code of its own (a fresh project folder where `taskpack demo` and `taskpack ask` run the
    installed tasks) the hash was that of no file at all, one version for every release, so a run started before an
    upgrade would have resumed on the new code. A module is named by its task dir and its path inside it, so a
    checkout and an installation of the same code have the same version.

    Cached per process: a worker's code does not change under it (`taskpack dev` restarts the worker on a change).
    """
    base = Path(root)
    digest = hashlib.sha256()
    for folder in dirs:
        located = task_dir(base, folder)
        if located is None:
            continue
        top, named_from = located
        for path in sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts):
            digest.update(path.relative_to(named_from).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return "code-" + digest.hexdigest()[:16]


# -- which versions living workers run ------------------------------------------------------------------------------------
def record_seen(engine: sa.Engine, version: str, now: float, dead_after: float) -> None:
    """A worker of `version` is alive now, and counts as alive for `dead_after` more seconds (at each heartbeat)."""
    values = {"last_seen_at": now, "alive_until": now + dead_after}
    with engine.begin() as conn:
        if conn.execute(sa.update(code_versions).where(code_versions.c.version == version).values(**values)).rowcount:
            return
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(code_versions).values(version=version, first_seen_at=now, **values))
    except sa.exc.IntegrityError:
        pass  # another worker of this version recorded it at the same moment


def live_versions(engine: sa.Engine, now: float) -> frozenset[str]:
    """The versions whose last worker heartbeat is within that worker's dead-worker limit."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(code_versions.c.version).where(code_versions.c.alive_until >= now)).all()
    return frozenset(r[0] for r in rows)


def gone_versions(engine: sa.Engine, now: float, grace: float) -> frozenset[str]:
    """The versions no worker has heartbeated for in `grace` seconds: their started runs will never be resumed."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(code_versions.c.version).where(code_versions.c.last_seen_at < now - grace)).all()
    return frozenset(r[0] for r in rows)


# -- which tasks living workers of each version define ----------------------------------------------------------------------
def record_tasks_seen(engine: sa.Engine, version: str, task_ids: list[str], now: float) -> None:
    """A living worker of `version` defines `task_ids` now (at start and each heartbeat: one UPDATE when nothing is new)."""
    if not task_ids:
        return
    t = version_tasks.c
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(version_tasks).where(t.version == version, t.task_id.in_(task_ids)).values(last_seen_at=now)
        ).rowcount
    if updated == len(task_ids):
        return
    with engine.connect() as conn:
        known = {r[0] for r in conn.execute(sa.select(t.task_id).where(t.version == version, t.task_id.in_(task_ids))).all()}
    for task_id in sorted(set(task_ids) - known):
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(version_tasks).values(version=version, task_id=task_id, last_seen_at=now))
        except sa.exc.IntegrityError:
            pass  # another worker of this version recorded it at the same moment


def served_tasks(engine: sa.Engine, versions: frozenset[str], since: float) -> frozenset[tuple[str, str]]:
    """(version, task id) pairs a living worker of one of `versions` has defined at or after `since`."""
    if not versions:
        return frozenset()
    t = version_tasks.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.version, t.task_id).where(t.version.in_(sorted(versions)), t.last_seen_at >= since)).all()
    return frozenset((r[0], r[1]) for r in rows)
