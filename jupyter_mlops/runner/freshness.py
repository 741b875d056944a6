"""Is a cache entry still valid? Its step's recorded reads, its age (``cache:ttl=``).

A manifest's ``reads`` (recorded in the kernel by :mod:`jupyter_mlops.kernel_reads`) maps
each path the step read (relative to the notebook's folder, or absolute) to its size, mtime
and sha256 (a folder: the sha256 of its listing). A file is unchanged when its size and
mtime are the recorded ones and that mtime is older than the recording (git's racy-mtime
rule, with a margin for coarse file-system clocks); otherwise its digest decides, and a
matching digest refreshes the recorded stat so the next check is a ``stat`` again.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..kernel_reads import describe

RACY_NS = 2_000_000_000  # mtimes within 2 s of the recording are compared by content


def _changed(path: str, entry: dict[str, Any], checked_ns: int) -> tuple[str | None, bool]:
    """(what changed or None, whether the entry's stat must be refreshed)."""
    kind = entry.get("kind")
    if kind == "unstable":
        return "changed while the step ran", False
    try:
        st = os.stat(path)
    except OSError:
        return (None, False) if kind == "missing" else ("was removed", False)
    if kind == "missing":
        return "appeared", False
    is_dir = os.path.isdir(path)
    if (kind == "dir") != is_dir:
        return "changed", False
    if kind == "file" and st.st_size != entry.get("size"):
        return "changed", False
    if st.st_mtime_ns == entry.get("mtime_ns") and st.st_mtime_ns < checked_ns - RACY_NS:
        return None, False
    now = describe(path, "dir" if is_dir else "file")
    if now.get("kind") != kind:
        return "changed", False
    if kind == "dir" and now.get("listing") != entry.get("listing"):
        return "changed (files added or removed)", False
    if kind == "file" and now.get("sha256") != entry.get("sha256"):
        return "changed", False
    entry.update(now)  # same content: remember the new stat
    return None, True


def stale_reason(
    manifest: dict[str, Any], base: str, ttl: float | None, now: float | None = None
) -> tuple[str | None, bool]:
    """Why the cached result in ``manifest`` must not be used (None: it may), and whether its
    ``reads`` were refreshed in place (same content, new mtimes: worth saving).

    ``base`` is the notebook's folder (relative paths are resolved against it); ``ttl`` the
    step's ``cache:ttl=`` in seconds.
    """
    now = time.time() if now is None else now
    if ttl is not None:
        age = now - float(manifest.get("executed_at") or 0)
        if age > ttl:
            return f"cache entry expired (cache:ttl={ttl:g} s, {age:.1f} s old)", False
    reads = manifest.get("reads") or {}
    checked_ns = int(reads.get("checked_ns") or 0)
    refreshed = False
    for name, entry in (reads.get("paths") or {}).items():
        path = name if os.path.isabs(name) else os.path.join(base, name)
        what, refresh = _changed(path, entry, checked_ns)
        if what is not None:
            return f"{'the notebook folder' if name == '.' else name} {what}", False
        refreshed = refreshed or refresh
    if refreshed:
        reads["checked_ns"] = time.time_ns()
    return None, refreshed
