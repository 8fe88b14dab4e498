"""The team's shared real data: find ``cifar10-jpeg.tar.gz`` and extract it once into a cache.

    root = shared_cifar10()                 # full set: root/train/<class>/*.jpg, root/test/<class>/*.jpg
    root = shared_cifar10(members=20)       # 20 images per class and split (fast, for tests)

Locations: the shared directory is ``$SADP_SHARED`` or ``../shared`` next to the repository root
(found from this file's location, then from the current directory); the archive is in its
``data/`` folder (or directly in it). The cache is ``cache_dir`` or ``$SADP_CACHE`` or
``~/.cache/sadp``. Extraction goes to a temporary folder renamed into place, under a file lock,
so concurrent callers neither see half-extracted trees nor extract twice.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterable

ARCHIVE = "cifar10-jpeg.tar.gz"
_DONE = ".complete"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The sadp cache directory: ``cache_dir``, else ``$SADP_CACHE``, else ``~/.cache/sadp``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SADP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sadp"


def shared_dir() -> Path:
    """The team's shared directory: ``$SADP_SHARED``, else ``../shared`` beside the repository root."""
    env = os.environ.get("SADP_SHARED")
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve()
    for start in (*here.parents, Path.cwd().resolve(), *Path.cwd().resolve().parents):
        if (start / "pyproject.toml").is_file() and (start.parent / "shared").is_dir():
            return start.parent / "shared"
    raise FileNotFoundError(
        "cannot find the shared data directory: no ../shared beside the repository root "
        f"(looked upwards from {here.parent} and {Path.cwd()}); set SADP_SHARED=/path/to/shared"
    )


def shared_archive(name: str = ARCHIVE) -> Path:
    """Path of an archive in the shared directory (``data/NAME`` or ``NAME``)."""
    base = shared_dir()
    for p in (base / "data" / name, base / name):
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"{name} not found in {base / 'data'} or {base}; set SADP_SHARED to the directory that holds data/{name}"
    )


def _select(tar: tarfile.TarFile, members: int | Iterable[str] | None) -> list[tarfile.TarInfo]:
    files = [m for m in tar.getmembers() if m.isfile()]
    if members is None:
        return files
    if isinstance(members, int):
        per_folder: dict[str, list[tarfile.TarInfo]] = defaultdict(list)
        for m in files:
            per_folder[m.name.rsplit("/", 1)[0]].append(m)
        # The lowest-numbered files of each class folder: the same subset on every machine.
        return [m for ms in per_folder.values() for m in sorted(ms, key=lambda m: m.name)[:members]]
    wanted = {str(n).lstrip("./") for n in members}
    chosen = [m for m in files if m.name in wanted]
    missing = wanted - {m.name for m in chosen}
    if missing:
        raise FileNotFoundError(f"{len(missing)} requested members not in the archive, e.g. {sorted(missing)[:3]}")
    return chosen


def _cache_name(members: int | Iterable[str] | None) -> tuple[str, list[str] | int | None]:
    if members is None:
        return "cifar10-jpeg", None
    if isinstance(members, int):
        if members < 1:
            raise ValueError(f"members must be a positive number of images per class, got {members}")
        return f"cifar10-jpeg-{members}-per-class", members
    names = sorted(str(n).lstrip("./") for n in members)
    if not names:
        raise ValueError("members is empty; pass None for the whole archive")

    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:12]
    return f"cifar10-jpeg-members-{digest}", names


def shared_cifar10(cache_dir: str | os.PathLike | None = None, members: int | Iterable[str] | None = None) -> Path:
    """Extract the shared CIFAR-10 JPEG tree (once) and return the folder holding ``train/`` and ``test/``.

    ``members``: ``None`` extracts all 60,000 images; an ``int`` n extracts the first n images of
    every class folder in both splits; an iterable of archive paths (``"cifar10/train/cat/0000.jpg"``)
    extracts exactly those. Each choice has its own cache folder; later calls return it at once.
    """
    folder, key = _cache_name(members)
    dest = cache_root(cache_dir) / folder
    root = dest / "cifar10"
    if (dest / _DONE).is_file():
        return root
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be extracting the same thing
        if (dest / _DONE).is_file():
            return root
        archive = shared_archive()
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=dest.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; other users of the cache must read it
        try:
            with tarfile.open(archive) as tar:
                chosen = _select(tar, key)
                if not chosen:
                    raise FileNotFoundError(f"{archive} holds no files")
                for m in chosen:
                    if not re.fullmatch(r"[\w./-]+", m.name) or ".." in m.name.split("/"):
                        raise ValueError(f"unsafe path {m.name!r} in {archive}")
                tar.extractall(tmp, members=chosen, filter="data")
            (tmp / _DONE).write_text(f"{archive}\n{len(chosen)} files\n")
            if dest.exists():  # a stale, incomplete extraction
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return root


__all__ = ["cache_root", "shared_archive", "shared_cifar10", "shared_dir"]
