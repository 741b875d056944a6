"""A shared artifact store behind an fsspec URL: ``s3://bucket/prefix`` or a shared folder.

The Dask executor moves step outputs between the submitting machine and the workers
through it. Its layout is the local store's (``<url>/ab/abcdef…``, content-addressed by
digest), so an object is written once and never changed. Every read is checked: a file
is downloaded (streamed, never held whole in memory) to a temporary name beside its target,
its digest is computed from the file and compared before it is renamed into place; a
mismatch is a :class:`~jupyter_mlops.serialization.CorruptArtifact` naming the object.

fsspec (and s3fs for ``s3://``) is imported only here, only when a shared store is used.
Credentials come from the usual places (``AWS_*`` variables, ``~/.aws``, an instance
role; an S3-compatible endpoint from ``AWS_ENDPOINT_URL`` or ``FSSPEC_S3_ENDPOINT_URL``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..serialization import ArtifactMissing, CorruptArtifact, file_digest


def display_url(url: str) -> str:
    """``url`` without any user:password part (safe to record and print)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


class SharedArtifacts:
    """Content-addressed artifacts under one fsspec URL."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        self.fs, root = url_to_fs(self.url, **(storage_options or {}))
        self.root = root.rstrip("/")
        protocol = self.fs.protocol
        self.local = "file" in (protocol if isinstance(protocol, (list, tuple)) else [protocol])

    def key(self, digest: str) -> str:
        return f"{self.root}/{digest[:2]}/{digest}"

    def url_of(self, digest: str) -> str:
        return f"{display_url(self.url)}/{digest[:2]}/{digest}"

    def size(self, digest: str) -> int | None:
        """The stored object's size, None if there is none."""
        try:
            return int(self.fs.info(self.key(digest))["size"])
        except (FileNotFoundError, KeyError, OSError):
            return None

    def put(self, path: str | os.PathLike[str], digest: str) -> None:
        """Upload the file at ``path`` (whose digest is ``digest``) unless already there."""
        size = os.path.getsize(path)
        if self.size(digest) == size:
            return
        key = self.key(digest)
        if self.local:  # a shared folder: temporary name, then rename (atomic for readers)
            folder = os.path.dirname(key)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.getpid()}-")
            os.close(fd)
            try:
                shutil.copyfile(path, tmp)
                os.replace(tmp, key)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return
        self.fs.put_file(os.fspath(path), key)  # s3: streamed (multipart for large files)

    def get(self, digest: str, directory: str | os.PathLike[str], size: int | None = None) -> Path:
        """The artifact as a local file ``directory/ab/<digest>``: reused when already there
        (with ``size``), else downloaded and checked against ``digest`` first."""
        target = Path(directory) / digest[:2] / digest
        with contextlib.suppress(OSError):
            if target.stat().st_size == size or size is None:  # stat: it exists
                return target
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{os.getpid()}-")
        os.close(fd)
        try:
            try:
                self.fs.get_file(self.key(digest), tmp)
            except FileNotFoundError:
                raise ArtifactMissing(
                    f"artifact {self.url_of(digest)} is not in the shared store (removed, or "
                    "another store URL was used): run again with --refresh to recompute it"
                ) from None
            if _digest_of(tmp) != digest:
                with contextlib.suppress(Exception):  # a re-run uploads or recomputes it
                    self.fs.rm(self.key(digest))
                raise CorruptArtifact(
                    f"artifact {self.url_of(digest)} does not match its digest {digest[:12]}…: "
                    "it was modified or corrupted in the shared store, so it was not used "
                    "(it was removed from the store; run again to upload or recompute it)"
                )
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target


def _digest_of(path: str) -> str:
    """:func:`file_digest` on a thread of its own: Dask's profiler samples the frames of task
    threads, and a sampled frame keeping a view of the memory map alive for a moment would
    make closing the map fail (``BufferError``)."""
    import threading

    box: dict[str, Any] = {}

    def compute() -> None:
        try:
            box["digest"] = file_digest(path)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=compute, name="mlops-digest", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["digest"]
