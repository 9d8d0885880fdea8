"""Finding task modules under the project's task dirs, or, for a dir the project does not have, in the installed
package of that name: a fresh project folder's `taskpack dev` ran no task at all ("no tasks to run")."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.loader import discover_modules, load_tasks


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package `lt_pkg.jobs` importable from a site folder outside the project, with a task, a private module and
    a test module."""
    site = tmp_path / "site"
    jobs = site / "lt_pkg" / "jobs"
    (jobs / "_private").mkdir(parents=True)
    (site / "lt_pkg" / "__init__.py").write_text("")
    (jobs / "__init__.py").write_text("")
    (jobs / "echo.py").write_text(
        "from runtime import task\n\n@task(id='lt-echo')\ndef echo(payload, ctx):\n    return payload\n"
    )
    (jobs / "_private" / "helper.py").write_text("x = 1\n")
    (jobs / "test_echo.py").write_text("def test_x():\n    pass\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_task_dir_the_project_lacks_is_found_as_the_installed_package(tmp_path: Path, installed: Path) -> None:
    project = tmp_path / "fresh-project"
    project.mkdir()
    assert discover_modules(["lt_pkg/jobs"], root=project) == ["lt_pkg.jobs.echo"]
    assert [t.id for t in load_tasks(discover_modules(["lt_pkg/jobs"], root=project))] == ["lt-echo"]


def test_the_projects_own_dir_wins_over_an_installed_package_of_that_name(tmp_path: Path, installed: Path) -> None:
    project = tmp_path / "project"
    (project / "lt_pkg" / "jobs").mkdir(parents=True)
    (project / "lt_pkg" / "jobs" / "mine.py").write_text("y = 2\n")
    assert discover_modules(["lt_pkg/jobs"], root=project) == ["lt_pkg.jobs.mine"]


@pytest.mark.parametrize("folder", ["no_such_pkg_anywhere", "../elsewhere", "lt_pkg/jobs/echo.py", "lt-pkg/jobs", ""])
def test_a_dir_that_is_neither_in_the_project_nor_a_package_gives_no_module(tmp_path: Path, installed: Path, folder: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    assert discover_modules([folder], root=project) == []


def test_each_project_root_reads_its_own_config_whatever_was_read_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config was read once per process: after a look from a folder without trigger_config.py (the defaults), the
    project's own dirs were never read again in that process (its task modules and code version with them; the
    full test suite hit it as twelve failures once a test had cleared the cache)."""
    from runtime.config import load_config
    from runtime.versions import hashed_version

    repo = Path(__file__).resolve().parents[2]
    mine, bare = tmp_path / "mine", tmp_path / "bare"
    mine.mkdir()
    bare.mkdir()
    (mine / "trigger_config.py").write_text('from runtime.config import ProjectConfig\nconfig = ProjectConfig(dirs=["jobs_here"])\n')
    seen = []
    for root in (bare, mine, repo, bare, mine, repo):
        monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(root))
        seen.append(load_config().dirs)
    assert seen == [["tasks"], ["jobs_here"], ["tasks", "api/webhooks/tasks"]] * 2
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(repo))
    assert "api.webhooks.tasks.delivery" in discover_modules()
    in_repo = hashed_version()
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(bare))
    assert hashed_version() != in_repo  # the installed `tasks` only: no webhook delivery dir in a bare folder's defaults
