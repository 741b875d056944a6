"""Self-describing artifact files for values passed between steps.

This module runs inside the user's kernel as well as in our own processes, so it imports
only the standard library at module level. Formats, chosen by type:

- ``npy``: numpy arrays of plain dtypes (``numpy.save`` layout; loaded copy-on-write
  memory-mapped, so passing a large array costs no copy until it is written to);
- ``pickle``: everything else through cloudpickle (protocol 5), so functions and classes
  defined in the notebook travel by value.

Files are written to a temporary name and renamed, and their sha256 digest is computed
while writing, in parallel chunks for large buffers.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 64 * 1024 * 1024


class SerializationError(Exception):
    """A value cannot be serialized (its type is in ``type_name``)."""

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        self.reason = reason
        super().__init__(f"{type_name}: {reason}")


def type_name(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _digest(buffers: list[memoryview]) -> str:
    """sha256 of the concatenation of ``buffers``, chunked and hashed on two threads.

    Large payloads are split into 64 MiB chunks; the digest is the sha256 of the chunk
    digests (a two-level tree), so it is stable for a given byte string.
    """
    chunks = [b[i : i + _CHUNK] for b in buffers for i in range(0, len(b), _CHUNK)] or [b""]
    if len(chunks) == 1:
        return hashlib.sha256(chunks[0]).hexdigest()
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda c: hashlib.sha256(c).digest(), chunks))
    return "t" + hashlib.sha256(b"".join(parts)).hexdigest()[1:]


def _is_plain_ndarray(obj: Any) -> bool:
    np = _numpy_if_loaded()
    return (
        np is not None
        and isinstance(obj, np.ndarray)
        and not obj.dtype.hasobject
        and obj.dtype.fields is None
    )


def _numpy_if_loaded():
    import sys

    return sys.modules.get("numpy")


def encode(obj: Any) -> tuple[str, list[memoryview]]:
    """Serialize ``obj`` into (format, buffers) without writing anything."""
    if _is_plain_ndarray(obj):
        np = _numpy_if_loaded()
        arr = np.ascontiguousarray(obj)
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, np.lib.format.header_data_from_array_1_0(arr))
        return "npy", [memoryview(header.getvalue()), memoryview(arr.reshape(-1)).cast("B")]
    try:
        buffers: list[pickle_buffer] = []  # type: ignore[name-defined]  # noqa: F821
        payload = _dumps(obj, buffers.append)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means "cannot be passed"
        raise SerializationError(type_name(obj), f"{type(exc).__name__}: {exc}") from exc
    if buffers:  # out-of-band buffers (large numpy/pandas blocks): frame them ourselves
        return "pickle5", _frame_pickle5(payload, [b.raw() for b in buffers])
    return "pickle", [memoryview(payload)]


def _refuse_file(obj: Any) -> Any:
    import pickle

    raise pickle.PicklingError(
        f"an open file ({getattr(obj, 'name', '?')!r}, mode {getattr(obj, 'mode', '?')!r}) "
        "cannot be passed between steps"
    )


def _dumps(obj: Any, buffer_callback: Callable[[Any], None]) -> bytes:
    """cloudpickle, protocol 5, except that open files are refused in every mode
    (cloudpickle would turn a text file opened for reading into a StringIO snapshot)."""
    from collections import ChainMap

    import cloudpickle

    class Pickler(cloudpickle.CloudPickler):
        dispatch_table = ChainMap(
            {io.TextIOWrapper: _refuse_file}, cloudpickle.Pickler.dispatch_table
        )

    with io.BytesIO() as file:
        Pickler(file, protocol=5, buffer_callback=buffer_callback).dump(obj)
        return file.getvalue()


def _frame_pickle5(payload: bytes, raws: list[memoryview]) -> list[memoryview]:
    """Layout: magic, count, lengths, payload, buffers (so buffers are written zero-copy)."""
    lengths = [len(payload)] + [r.nbytes for r in raws]
    head = b"MLOPSPK5" + len(lengths).to_bytes(8, "little")
    head += b"".join(n.to_bytes(8, "little") for n in lengths)
    return [memoryview(head), memoryview(payload)] + [r.cast("B") for r in raws]


BACKGROUND_BYTES = 64 * 1024 * 1024
_pending: list[threading.Thread] = []


def dump(obj: Any, directory: str | os.PathLike[str], background: bool = False) -> dict[str, Any]:
    """Write ``obj`` content-addressed under ``directory``; return its manifest entry.

    The entry is ``{"format", "digest", "size", "type", "path"}``; an existing file with
    the same digest is reused (nothing is written twice). With ``background=True``, a
    payload of 64 MiB or more is written by a background thread after its digest is
    known: the entry then has ``"pending": True`` and the file appears (atomically) when
    the write is done. If the value changed while it was being written, the writer
    leaves ``<path>.invalid`` instead (see :func:`wait_for`).
    """
    fmt, buffers = encode(obj)
    digest = _digest(buffers)
    directory = Path(directory)
    path = directory / digest[:2] / digest
    size = sum(b.nbytes for b in buffers)
    entry = {
        "format": fmt,
        "digest": digest,
        "size": size,
        "type": type_name(obj),
        "path": str(path),
    }
    if path.exists():
        return entry
    path.parent.mkdir(parents=True, exist_ok=True)
    if background and size >= BACKGROUND_BYTES:
        writer = threading.Thread(
            target=_write_staged,
            args=(path, buffers, digest, _staging_room(size)),
            name=f"mlops-write-{digest[:8]}",
            daemon=True,
        )
        writer.start()
        _pending.append(writer)
        entry["pending"] = True
        return entry
    _write(path, buffers, None)
    return entry


STAGING_ROOT = Path(os.environ.get("JUPYTER_MLOPS_STAGING", "/dev/shm")) / "jupyter-mlops"


def staging_path(path: str | os.PathLike[str]) -> Path:
    """Where a large artifact is staged in memory (tmpfs) while it is written to the store."""
    return STAGING_ROOT / Path(path).name


def _staging_room(size: int) -> bool:
    """Whether the staging area exists and has room for twice ``size`` bytes."""
    try:
        STAGING_ROOT.mkdir(parents=True, exist_ok=True)
        stat = os.statvfs(STAGING_ROOT)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize >= 2 * size


def _write_staged(path: Path, buffers: list[memoryview], digest: str, staged: bool) -> None:
    """Background writer: to the tmpfs staging area first (readers may use it at once, at
    memory speed), then to the store on disk; the staging copy is removed at the end."""
    if not staged:
        _write(path, buffers, digest)
        return
    stage = staging_path(path)
    try:
        _write(stage, buffers, digest)
        if not stage.exists():  # the value changed while it was being written
            Path(f"{path}.invalid").write_text("the value changed while it was being saved")
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(stage, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        stage.unlink(missing_ok=True)
        Path(f"{stage}.invalid").unlink(missing_ok=True)


def _write(path: Path, buffers: list[memoryview], expect: str | None) -> None:
    """Write buffers to ``path`` through a temporary file; check the digest when asked."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            for buf in buffers:
                fh.write(buf)
        if expect is not None and _digest(buffers) != expect:
            Path(tmp).unlink(missing_ok=True)
            Path(f"{path}.invalid").write_text("the value changed while it was being saved")
            return
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flush(timeout: float | None = None) -> None:
    """Wait for this process's background writes to finish."""
    for writer in list(_pending):
        writer.join(timeout)
        if not writer.is_alive():
            _pending.remove(writer)


def wait_for(
    path: str | os.PathLike[str],
    alive: Callable[[], bool] = lambda: True,
    timeout: float = 600.0,
    poll: float = 0.01,
) -> bool:
    """Wait until an artifact written in the background exists; False if it never will.

    ``alive`` tells whether the writing process can still finish it.
    """
    target = Path(path)
    invalid = Path(f"{path}.invalid")
    deadline = time.monotonic() + timeout
    while not target.exists():
        if invalid.exists() or not alive() or time.monotonic() > deadline:
            return target.exists()
        time.sleep(poll)
    return True


class ArtifactMissing(FileNotFoundError):
    """An artifact that does not exist and will not appear."""


def _readable(path: Path, timeout: float = 600.0) -> Path:
    """The artifact file, or its in-memory staging copy while the store copy is written."""
    stage = staging_path(path)
    invalid = Path(f"{path}.invalid")
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            return path
        if stage.exists():
            return stage
        if invalid.exists() or time.monotonic() > deadline:
            raise ArtifactMissing(f"artifact {path} is missing (its producer did not finish it)")
        time.sleep(0.01)


def load(path: str | os.PathLike[str]) -> Any:
    """Read back a value written by :func:`dump` (retrying once if a staging copy vanished)."""
    try:
        return _load(path)
    except ArtifactMissing:
        raise
    except FileNotFoundError:  # the staging copy was removed just as we opened it
        return _load(path)


def _load(path: str | os.PathLike[str]) -> Any:
    path = _readable(Path(path))
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(NPY_MAGIC):
        import numpy as np

        return np.load(path, mmap_mode="c", allow_pickle=False)
    import pickle

    import cloudpickle  # noqa: F401 - needed to rebuild dynamic functions and classes

    if magic == b"MLOPSPK5":
        with open(path, "rb") as fh:
            fh.seek(8)
            count = int.from_bytes(fh.read(8), "little")
            lengths = [int.from_bytes(fh.read(8), "little") for _ in range(count)]
            payload = fh.read(lengths[0])
            buffers = [bytearray(n) for n in lengths[1:]]
            for buf in buffers:
                fh.readinto(buf)
        return pickle.loads(payload, buffers=buffers)
    with open(path, "rb") as fh:
        return pickle.load(fh)
