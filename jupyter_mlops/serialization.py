"""Self-describing artifact files for values passed between steps.

This module runs inside the user's kernel as well as in our own processes, so it imports
only the standard library at module level. Formats, chosen by type:

- ``npy``: numpy arrays of plain dtypes (``numpy.save`` layout; loaded copy-on-write
  memory-mapped, so passing a large array costs no copy until it is written to);
- ``pickle``: everything else through cloudpickle (protocol 5), so functions and classes
  defined in the notebook travel by value.

Files are written to a temporary name (``.tmp-<pid>-…``, so a dead writer's leftovers can be
told apart and removed) and renamed, and their sha256 digest is computed while writing, in
parallel chunks for large buffers. Loading verifies the digest before anything is
deserialized (an artifact's file name is its digest). Store and staging folders are
owner-only (0700) and must belong to the current user.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import os
import shutil
import sys
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


class UnsafeFolder(Exception):
    """A store or staging folder that another user owns or can access."""


def private_dir(path: str | os.PathLike[str], create: bool = True) -> Path:
    """``path`` as an owner-only folder (created 0700; an existing one of ours is tightened).

    Raises :class:`UnsafeFolder` if it is not a real folder owned by the current user:
    sharing a store or staging folder between OS users is not supported.
    """
    path = Path(path)
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    import stat

    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFolder(f"{path} is not a folder (a symbolic link or a file is not accepted)")
    if info.st_uid != os.getuid():
        raise UnsafeFolder(
            f"{path} belongs to another user (uid {info.st_uid}); jupyter-mlops folders must be "
            "private to one user: use a store of your own (teams share an MLflow server)"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


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


def _chunks(buffers: list[memoryview]) -> list[memoryview]:
    """The digest's unit: each buffer cut into 64 MiB chunks."""
    return [b[i : i + _CHUNK] for b in buffers for i in range(0, len(b), _CHUNK)] or [
        memoryview(b"")
    ]


def _combine(parts: list[bytes]) -> str:
    """The digest from the chunks' sha256 digests: a single chunk's own hex digest, else
    ``t`` + the sha256 of the concatenated chunk digests (a two-level tree)."""
    if len(parts) == 1:
        return parts[0].hex()
    return "t" + hashlib.sha256(b"".join(parts)).hexdigest()[1:]


def _sha256(data: Any) -> bytes:
    return hashlib.sha256(data).digest()


def _digest(buffers: list[memoryview]) -> str:
    """sha256 of the concatenation of ``buffers``, chunked and hashed on two threads.

    Large payloads are split into 64 MiB chunks; the digest is the sha256 of the chunk
    digests (a two-level tree), so it is stable for a given byte string.
    """
    chunks = _chunks(buffers)
    if len(chunks) == 1:
        return _combine([_sha256(chunks[0])])
    with ThreadPoolExecutor(2) as pool:
        return _combine(list(pool.map(_sha256, chunks)))


class CorruptArtifact(Exception):
    """An artifact whose bytes do not match its digest (never deserialized)."""


def _file_buffers(view: memoryview) -> list[memoryview]:
    """Split a whole artifact file the way :func:`encode` produced its buffers (the digest's
    chunking follows buffer boundaries), reading only its small framing headers."""
    head = bytes(view[:16])
    if head.startswith(NPY_MAGIC) and len(view) >= 10:
        major = view[6]
        if major == 1:
            size = 10 + int.from_bytes(view[8:10], "little")
        else:
            size = 12 + int.from_bytes(view[8:12], "little")
        return [view[:size], view[size:]]
    if head.startswith(b"MLOPSPK5") and len(view) >= 16:
        count = int.from_bytes(view[8:16], "little")
        if 0 < count < 1_000_000 and len(view) >= 16 + 8 * count:
            lengths = [
                int.from_bytes(view[16 + 8 * i : 24 + 8 * i], "little") for i in range(count)
            ]
            offset = 16 + 8 * count
            if offset + sum(lengths) == len(view):
                parts = [view[:offset]]
                for n in lengths:
                    parts.append(view[offset : offset + n])
                    offset += n
                return parts
    return [view]


def file_digest(path: str | os.PathLike[str]) -> str:
    """The digest :func:`dump` gave the file at ``path`` (as written, whatever its format)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return _digest([memoryview(b"")])
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # no page fault per page
        with mmap.mmap(fh.fileno(), 0, flags=flags, prot=mmap.PROT_READ) as mm:
            view = memoryview(mm)
            try:
                return _digest(_file_buffers(view))
            finally:
                view.release()


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdeft" for c in text)


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
        import cloudpickle  # noqa: F401 - checked here: the kernel may lack it
    except ImportError:
        raise MissingRequirement("cloudpickle", "to pass values between steps") from None
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


# payloads this big are written in the background (tests lower it to stay small)
BACKGROUND_BYTES = int(os.environ.get("JUPYTER_MLOPS_TEST_BACKGROUND_BYTES", 64 * 1024 * 1024))
_HOLD_ENV = "JUPYTER_MLOPS_TEST_HOLD_WRITE"  # tests: stop at "staging", "copy" or "store"
_pending: list[threading.Thread] = []


def _temp_prefix() -> str:
    """Temporary files carry the writer's pid: leftovers of dead writers can be removed."""
    return f".tmp-{os.getpid()}-"


def dump(obj: Any, directory: str | os.PathLike[str], background: bool = False) -> dict[str, Any]:
    """Write ``obj`` content-addressed under ``directory``; return its manifest entry.

    The entry is ``{"format", "digest", "size", "type", "path"}``; an existing file with
    the same digest is reused (nothing is written twice). With ``background=True``, a
    payload of 64 MiB or more is written by a background thread after its digest is
    known: the entry then has ``"pending": True`` and the file appears (atomically) when
    the write is done. If the value changed while it was being written, or the write
    failed, the writer leaves ``<path>.invalid`` (and a copy in the staging folder) with
    the reason instead; readers see it at once (see :func:`wait_for`).
    """
    fmt, buffers = encode(obj)
    directory = Path(directory)
    size = sum(b.nbytes for b in buffers)
    staged = None
    if background and size >= BACKGROUND_BYTES:
        staged = _stage(buffers, size, staging_dir(directory))
    digest = staged[0] if staged is not None else _digest(buffers)
    path = directory / digest[:2] / digest
    entry = {
        "format": fmt,
        "digest": digest,
        "size": size,
        "type": type_name(obj),
        "path": str(path),
    }
    if path.exists() and path.stat().st_size == size:
        if staged is not None:
            Path(staged[1]).unlink(missing_ok=True)
        return entry
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if background and size >= BACKGROUND_BYTES:
        for marker in _failure_markers(path):  # left by an earlier failed write of this value
            marker.unlink(missing_ok=True)
        if staged is not None:  # readers use the staging copy from now on
            os.replace(staged[1], staging_path(path))
            target, args = _copy_to_store, (path,)
        else:  # no room in memory: written (and checked against the digest) in the background
            target, args = _write, (path, buffers, digest)
        writer = threading.Thread(
            target=_in_background, args=(path, target, *args),
            name=f"mlops-write-{digest[:8]}", daemon=True,
        )  # fmt: skip
        writer.start()
        _pending.append(writer)
        entry["pending"] = True
        return entry
    _write(path, buffers, None)
    return entry


def _stage(buffers: list[memoryview], size: int, stage_dir: Path) -> tuple[str, str] | None:
    """Write ``buffers`` to a new temporary file in the in-memory staging folder while
    computing their digest; ``(digest, temporary file)``, or None when staging cannot take
    it (no room, an I/O error: the caller falls back to the checked background write).

    One pass: each 64 MiB chunk is written, then hashed (two threads) from the *file's*
    pages, while the next chunk is written. So the digest is exactly that of the file's
    bytes, and no second pass is needed to check what was written.
    """
    if not _staging_room(stage_dir / "x", size):
        return None
    fd, tmp = tempfile.mkstemp(dir=stage_dir, prefix=_temp_prefix())
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mm, ThreadPoolExecutor(2) as pool:
            file = memoryview(mm)
            try:
                hashes, offset = [], 0
                for i, chunk in enumerate(_chunks(buffers)):
                    _pwrite_all(fd, chunk, offset)
                    hashes.append(pool.submit(_sha256_released, file[offset : offset + len(chunk)]))
                    offset += len(chunk)
                    if i == 0:
                        _hold("staging")
                digest = _combine([h.result() for h in hashes])
            finally:
                file.release()
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return digest, tmp


def _sha256_released(view: memoryview) -> bytes:
    with view:
        return hashlib.sha256(view).digest()


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def _in_background(path: Path, target: Callable[..., None], *args: Any) -> None:
    """Run a background writer; a failure leaves the marker readers look for, at once."""
    try:
        target(*args)
    except Exception as exc:  # noqa: BLE001 - disk full, permissions...: readers must know now
        _mark_failed(path, f"{type(exc).__name__}: {exc}")


# per user (owner-only, checked), then per store: /dev/shm/jupyter-mlops-<uid>/<store hash>/
STAGING_ROOT = (
    Path(os.environ.get("JUPYTER_MLOPS_STAGING", "/dev/shm")) / f"jupyter-mlops-{os.getuid()}"
)


def staging_dir(artifacts: str | os.PathLike[str]) -> Path:
    """The staging folder of the store whose artifact folder is ``artifacts``."""
    key = hashlib.sha256(os.fsencode(os.path.abspath(artifacts))).hexdigest()[:16]
    return STAGING_ROOT / key


def staging_path(path: str | os.PathLike[str]) -> Path:
    """Where a large artifact is staged in memory (tmpfs) while it is written to the store."""
    path = Path(path)
    return staging_dir(path.parent.parent) / path.name


def _failure_markers(path: str | os.PathLike[str]) -> list[Path]:
    stage = staging_path(path)
    return [Path(f"{path}.invalid"), stage.with_name(stage.name + ".invalid")]


def failure(path: str | os.PathLike[str]) -> str | None:
    """Why the background write of ``path`` failed, if it did (its marker's text)."""
    for marker in _failure_markers(path):
        try:
            return marker.read_text(encoding="utf-8").strip() or "the write failed"
        except OSError:
            continue
    return None


def _mark_failed(path: Path, reason: str) -> None:
    """Leave the failure marker where readers look (best effort in both places)."""
    for marker in _failure_markers(path):
        try:
            marker.write_text(reason, encoding="utf-8")
        except OSError:
            continue


def _staging_room(stage: Path, size: int) -> bool:
    """Whether the staging area is usable and has room for twice ``size`` bytes."""
    try:
        private_dir(STAGING_ROOT)
        private_dir(stage.parent)
        stat = os.statvfs(stage.parent)
    except (OSError, UnsafeFolder):
        return False
    return stat.f_bavail * stat.f_frsize >= 2 * size


def _copy_to_store(path: Path) -> None:
    """Background writer: copy the staged file (private, immutable, its digest known) to
    the store on disk, then remove the staging copy."""
    stage = staging_path(path)
    try:
        _hold("copy")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix())
        os.close(fd)
        try:
            shutil.copyfile(stage, tmp)
            _hold("store")
            os.replace(tmp, path)
        except FileNotFoundError:
            Path(tmp).unlink(missing_ok=True)
            if not path.exists():  # not another writer of the same value that finished first
                raise
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        stage.unlink(missing_ok=True)


def _hold(stage: str) -> None:
    """Tests only: stop the writer at ``stage`` (``JUPYTER_MLOPS_TEST_HOLD_WRITE`` is
    ``STAGE`` — until the process dies — or ``STAGE:FILE`` — until FILE exists)."""
    wanted, _, release = os.environ.get(_HOLD_ENV, "").partition(":")
    if wanted != stage:
        return
    while not (release and os.path.exists(release)):
        time.sleep(0.05)


def _write(path: Path, buffers: list[memoryview], expect: str | None) -> None:
    """Write buffers to ``path`` through a temporary file; check the digest when asked."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix())
    try:
        with os.fdopen(fd, "wb") as fh:
            for buf in buffers:
                fh.write(buf)
        if expect is not None and _digest(buffers) != expect:
            Path(tmp).unlink(missing_ok=True)
            _mark_failed(path, "the value changed while it was being saved")
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
    """Wait until an artifact written in the background exists; False if it never will
    (its writer left a failure marker, or ``alive`` says the writing process is gone)."""
    target = Path(path)
    deadline = time.monotonic() + timeout
    while not target.exists():
        if failure(path) is not None or not alive() or time.monotonic() > deadline:
            return target.exists()
        time.sleep(poll)
    return True


class ArtifactMissing(FileNotFoundError):
    """An artifact that does not exist and will not appear."""


def _readable(path: Path, timeout: float = 600.0) -> Path:
    """The artifact file, or its in-memory staging copy while the store copy is written."""
    stage = staging_path(path)
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            return path
        if stage.exists():
            return stage
        reason = failure(path)
        if reason is not None:
            raise ArtifactMissing(f"artifact {path} was not saved: {reason}")
        if time.monotonic() > deadline:
            raise ArtifactMissing(f"artifact {path} is missing (its producer did not finish it)")
        time.sleep(0.01)


def load(path: str | os.PathLike[str], digest: str | None = None) -> Any:
    """Read back a value written by :func:`dump`, after checking its bytes against
    ``digest`` (default: the file's name, which is its digest); :class:`CorruptArtifact`
    if they differ. Retries once if a staging copy vanished as it was opened."""
    if digest is None and _is_digest(Path(path).name):
        digest = Path(path).name
    try:
        return _load(Path(path), digest)
    except ArtifactMissing:
        raise
    except FileNotFoundError:  # the staging copy was removed just as we opened it
        return _load(Path(path), digest)


def _mismatch(source: Path, path: Path, digest: str) -> CorruptArtifact:
    """Move a corrupted store file aside (a re-run then recomputes it); describe it."""
    if source == path:
        aside = Path(f"{path}.corrupt")
        try:
            os.replace(path, aside)
            where = f"; it was moved to {aside.name}, run again to recompute it"
        except OSError:
            where = "; delete it and run again to recompute it"
    else:
        source.unlink(missing_ok=True)
        where = " (its in-memory staging copy was removed)"
    return CorruptArtifact(
        f"artifact {path} does not match its digest {digest[:12]}…: it was modified or "
        f"corrupted after it was written, so it was not loaded{where}"
    )


def _load(path: Path, digest: str | None) -> Any:
    source = _readable(path)
    with open(source, "rb") as fh:
        magic = fh.read(8)
        if not magic.startswith(NPY_MAGIC):
            fh.seek(0)
            data = bytearray(os.fstat(fh.fileno()).st_size)
            fh.readinto(data)
    if magic.startswith(NPY_MAGIC):
        if digest is not None and file_digest(source) != digest:
            raise _mismatch(source, path, digest)
        import numpy as np

        return np.load(source, mmap_mode="c", allow_pickle=False)
    view = memoryview(data)
    parts = _file_buffers(view)
    if digest is not None and _digest(parts) != digest:
        raise _mismatch(source, path, digest)
    import pickle

    try:
        import cloudpickle  # noqa: F401 - needed to rebuild dynamic functions and classes
    except ImportError:
        raise MissingRequirement("cloudpickle", "to load values passed between steps") from None

    if len(parts) > 1:  # MLOPSPK5 framing: header, payload, out-of-band buffers
        return pickle.loads(parts[1], buffers=parts[2:])
    return pickle.loads(data)


class MissingRequirement(ImportError):
    """A package the kernel's environment needs for jupyter-mlops is not installed there."""

    def __init__(self, package: str, purpose: str) -> None:
        kernel = os.environ.get("JUPYTER_MLOPS_KERNEL", "")
        where = f"kernel {kernel!r} (Python {sys.executable})" if kernel else sys.executable
        super().__init__(
            f"{package} is not installed in the environment of {where}; jupyter-mlops needs it "
            f"{purpose}: run `{sys.executable} -m pip install {package}`"
        )
        self.name = package


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _dead_temp(entry: os.DirEntry, now: float) -> bool:
    """A ``.tmp-<pid>-…`` file whose writer is gone (unnumbered ones: after an hour)."""
    if not entry.name.startswith(".tmp-"):
        return False
    pid = entry.name[5:].split("-", 1)[0]
    if pid.isdigit():
        return not _pid_alive(int(pid))
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > 3600
    except OSError:
        return False


def clean_stale(artifacts: str | os.PathLike[str]) -> int:
    """Remove what dead writers left in a store's artifact folder and its staging folder:
    temporary files, and staging copies whose store copy is done or was abandoned."""
    artifacts = Path(artifacts)
    now = time.time()
    removed = 0
    writing: set[str] = set()
    with contextlib.suppress(OSError), os.scandir(artifacts) as shards:
        for shard in shards:
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError), os.scandir(shard.path) as files:
                for entry in files:
                    if _dead_temp(entry, now):
                        Path(entry.path).unlink(missing_ok=True)
                        removed += 1
                    elif entry.name.startswith(".tmp-"):
                        writing.add(shard.name)
    stage = staging_dir(artifacts)
    with contextlib.suppress(OSError), os.scandir(stage) as files:
        for entry in files:
            name = entry.name
            if _dead_temp(entry, now):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
            elif _is_digest(name):
                done = (artifacts / name[:2] / name).exists()
                with contextlib.suppress(OSError):
                    idle = name[:2] not in writing and now - entry.stat().st_mtime > 60
                    if done or idle:
                        Path(entry.path).unlink(missing_ok=True)
                        removed += 1
    return removed
