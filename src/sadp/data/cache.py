"""Decoded or binned arrays cached on disk as ``.npy``, keyed by the source files and the decoding options.

The key hashes each source file's path, size and modification time plus the options, so a changed,
added or removed file (or another frame count) gives a new entry and stale caches are never read.
Writes go to a temporary folder renamed into place, so a killed run leaves no half-written entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

FORMAT_VERSION = 1  # bump when the decoding itself changes


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The sadp cache directory: ``cache_dir``, else ``$SADP_CACHE``, else ``~/.cache/sadp``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SADP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sadp"


def files_key(files: Iterable[str | Path], **options: Any) -> str:
    """A hash of (path, size, mtime) of every file plus the options that change the decoded result."""
    h = hashlib.sha1(json.dumps({"v": FORMAT_VERSION, **options}, sort_keys=True, default=str).encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def cached_arrays(
    kind: str,
    key: str,
    build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    cache_dir: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load ``{name: array}`` and a JSON ``meta`` dict from ``CACHE/kind/key/``, or ``build()`` and store them."""
    folder = cache_root(cache_dir) / kind / key
    meta_file = folder / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        arrays = {name: np.load(folder / f"{name}.npy") for name in meta["arrays"]}
        return arrays, meta["meta"]
    arrays, meta = build()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        (tmp / "meta.json").write_text(json.dumps({"arrays": sorted(arrays), "meta": meta}))
        try:
            tmp.rename(folder)
        except OSError:  # another process stored the same entry first; theirs is identical
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return arrays, meta
