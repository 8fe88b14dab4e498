#!/usr/bin/env python3
"""Extract the team's CIFAR-10 JPEG archive (``cifar10-jpeg.tar.gz``) once into a cache and print
the ImageFolder root (``ROOT/train/<class>/*.jpg``, ``ROOT/test/<class>/*.jpg``).

Not part of the ``sadp`` package: the tests' fixtures and the benchmarks use it, and so can a
sweep that names its data by an environment variable::

    export CIFAR10_DIR=$(python scripts/shared_cifar10.py)       # all 60,000 images
    python scripts/shared_cifar10.py --per-class 20               # first 20 per class and split

The archive is ``--archive PATH``, else ``data/cifar10-jpeg.tar.gz`` (or ``cifar10-jpeg.tar.gz``)
in ``$SADP_SHARED``, else in a folder named ``shared`` beside this repository's root. The cache is
``--cache-dir``, else ``$SADP_CACHE``, else ``~/.cache/sadp``. Extraction goes to a temporary
folder renamed into place under a file lock, so concurrent callers neither see half-extracted trees
nor extract twice. Standard library only (POSIX: ``fcntl``).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

ARCHIVE = "cifar10-jpeg.tar.gz"
REPO_ROOT = Path(__file__).resolve().parents[1]
_DONE = ".complete"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$SADP_CACHE``, else ``~/.cache/sadp`` (the package's decode cache too)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SADP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sadp"


def shared_dir() -> Path:
    """The team's shared folder: ``$SADP_SHARED``, else ``shared`` beside the repository root."""
    env = os.environ.get("SADP_SHARED")
    if env:
        return Path(env).expanduser()
    beside = REPO_ROOT.parent / "shared"
    if beside.is_dir():
        return beside
    raise FileNotFoundError(f"no shared data folder: {beside} does not exist; set SADP_SHARED=/path/to/shared "
                            "or pass --archive PATH")


def find_archive(name: str = ARCHIVE) -> Path:
    """Path of ``name`` in the shared folder (``data/NAME`` or ``NAME``)."""
    base = shared_dir()
    for p in (base / "data" / name, base / name):
        if p.is_file():
            return p
    raise FileNotFoundError(f"{name} not found in {base / 'data'} or {base}; set SADP_SHARED to the folder that "
                            f"holds data/{name} or pass --archive PATH")


def _select(tar: tarfile.TarFile, per_class: int | None) -> list[tarfile.TarInfo]:
    files = [m for m in tar.getmembers() if m.isfile()]
    if per_class is None:
        return files
    per_folder: dict[str, list[tarfile.TarInfo]] = defaultdict(list)
    for m in files:
        per_folder[m.name.rsplit("/", 1)[0]].append(m)
    # The lowest-numbered files of each class folder: the same subset on every machine, and the
    # same images as the imagefolder reader's ``per_class`` option picks from the full tree.
    return [m for ms in per_folder.values() for m in sorted(ms, key=lambda m: m.name)[:per_class]]


def extract_cifar10(cache_dir: str | os.PathLike | None = None, per_class: int | None = None,
                    archive: str | os.PathLike | None = None) -> Path:
    """Extract the archive (once) and return the folder holding ``train/`` and ``test/``.

    ``per_class``: ``None`` extracts every image; ``n`` the first n images of every class folder in
    both splits. Each choice has its own cache folder; later calls return it at once.
    """
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise ValueError(f"per_class must be a positive number of images per class, got {per_class!r}")
    folder = "cifar10-jpeg" if per_class is None else f"cifar10-jpeg-{per_class}-per-class"
    dest = cache_root(cache_dir) / folder
    root = dest / "cifar10"
    if (dest / _DONE).is_file():
        return root
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be extracting the same thing
        if (dest / _DONE).is_file():
            return root
        source = Path(archive) if archive is not None else find_archive()
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=dest.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; other users of the cache must read it
        try:
            with tarfile.open(source) as tar:
                chosen = _select(tar, per_class)
                if not chosen:
                    raise FileNotFoundError(f"{source} holds no files")
                for m in chosen:
                    if not re.fullmatch(r"[\w./-]+", m.name) or ".." in m.name.split("/"):
                        raise ValueError(f"unsafe path {m.name!r} in {source}")
                tar.extractall(tmp, members=chosen, filter="data")
            (tmp / _DONE).write_text(f"{source}\n{len(chosen)} files\n")
            if dest.exists():  # a stale, incomplete extraction
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", type=int, default=None, help="extract only the first N images per class and split")
    p.add_argument("--cache-dir", default=None, help="cache folder [default: $SADP_CACHE or ~/.cache/sadp]")
    p.add_argument("--archive", default=None, help=f"the {ARCHIVE} to extract [default: found in the shared folder]")
    args = p.parse_args(argv)
    try:
        print(extract_cifar10(args.cache_dir, args.per_class, args.archive))
    except (FileNotFoundError, ValueError) as e:
        print(f"shared_cifar10: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
