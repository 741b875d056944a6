"""The read recorder (in a real Python process, as in a kernel) and the validity check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from runner_fixtures import cli_env

from jupyter_mlops.kernel_reads import describe
from jupyter_mlops.runner.freshness import stale_reason

RECORD = """
import json, os, sys, sqlite3
from jupyter_mlops import kernel_reads
base, store = sys.argv[1], sys.argv[2]
kernel_reads.start(base, [store], [os.path.join(base, 'declared')])
open(os.path.join(base, 'data.csv')).read()
open(os.path.join(base, 'written.txt'), 'w').write('x')
open(os.path.join(base, 'written.txt')).read()
open(os.path.join(store, 'artifact.bin'), 'rb').read()
try:
    open(os.path.join(base, 'absent.csv'))
except OSError:
    pass
os.listdir(base)
import email.mime.text  # imports: the import system's own reads are not data
import helper_module     # a module of the notebook's folder: counts
open(os.__file__).read()  # the standard library
open('/proc/self/status').read()
with os.scandir(os.path.join(base, 'sub')) as it:
    list(it)
print(json.dumps(kernel_reads.collect()))
"""


def test_recorder_keeps_data_and_leaves_out_the_rest(tmp_path: Path) -> None:
    base, store = tmp_path / "nb", tmp_path / "store"
    (base / "sub").mkdir(parents=True)
    (base / "declared" / "inner").mkdir(parents=True)
    (base / "declared" / "inner" / "part-0.parquet").write_bytes(b"PAR1")
    store.mkdir()
    (store / "artifact.bin").write_bytes(b"\0")
    (base / "data.csv").write_text("a\n1\n")
    (base / "helper_module.py").write_text("X = 1\n")
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(base), cli_env()["PYTHONPATH"]])}
    out = subprocess.run(
        [sys.executable, "-c", RECORD, str(base), str(store)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=base,
    )
    paths = json.loads(out.stdout)["paths"]
    assert sorted(paths) == [
        ".",
        "absent.csv",
        "data.csv",
        "declared",
        "declared/inner",
        "declared/inner/part-0.parquet",
        "helper_module.py",
        "sub",
    ]
    assert paths["absent.csv"] == {"kind": "missing"}
    assert paths["data.csv"]["kind"] == "file" and paths["data.csv"]["size"] == 4
    assert paths["sub"]["kind"] == "dir" and "listing" in paths["sub"]


def _recorded(path: Path) -> dict:
    entry = describe(str(path), "file")
    return {"checked_ns": time.time_ns(), "paths": {path.name: entry}}


def test_unchanged_stat_is_trusted_only_when_older_than_the_recording(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    old = time.time() - 60
    os.utime(data, (old, old))
    reads = _recorded(data)
    manifest = {"reads": reads, "executed_at": time.time()}
    assert stale_reason(manifest, str(tmp_path), None) == (None, False)
    # same size and mtime but new content: an old mtime is trusted (stat only)...
    data.write_text("a,b\n1,3\n")
    os.utime(data, (old, old))
    assert stale_reason(manifest, str(tmp_path), None) == (None, False)
    # ...but not a racy one: mtime at or after the recording means compare the digests
    racy = {"reads": {**reads, "checked_ns": data.stat().st_mtime_ns}, "executed_at": time.time()}
    assert stale_reason(racy, str(tmp_path), None) == ("data.csv changed", False)


def test_same_content_refreshes_the_recorded_stat(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    manifest = {"reads": _recorded(data), "executed_at": time.time()}
    later = time.time() + 10
    os.utime(data, (later, later))
    assert stale_reason(manifest, str(tmp_path), None) == (None, True)
    assert manifest["reads"]["paths"]["data.csv"]["mtime_ns"] == data.stat().st_mtime_ns


def test_removed_appeared_listing_and_ttl(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    manifest = {
        "reads": {
            "checked_ns": time.time_ns(),
            "paths": {
                "gone.csv": {"kind": "file", "size": 1, "mtime_ns": 1, "sha256": "x"},
                "parts": describe(str(folder), "dir"),
            },
        },
        "executed_at": time.time() - 100,
    }
    assert stale_reason(manifest, str(tmp_path), None)[0] == "gone.csv was removed"
    del manifest["reads"]["paths"]["gone.csv"]
    manifest["reads"]["paths"]["later.csv"] = {"kind": "missing"}
    assert stale_reason(manifest, str(tmp_path), None)[0] is None
    (tmp_path / "later.csv").write_text("1")
    assert stale_reason(manifest, str(tmp_path), None)[0] == "later.csv appeared"
    del manifest["reads"]["paths"]["later.csv"]
    (folder / "p1").write_text("1")
    assert stale_reason(manifest, str(tmp_path), None)[0] == (
        "parts changed (files added or removed)"
    )
    manifest["reads"]["paths"]["parts"] = describe(str(folder), "dir")
    assert stale_reason(manifest, str(tmp_path), 1000.0)[0] is None
    assert stale_reason(manifest, str(tmp_path), 50.0)[0].startswith(
        "cache entry expired (cache:ttl=50 s, 10"
    )


STEPS = """
import json, sys, types
from jupyter_mlops import kernel_reads
base = sys.argv[1]
seen = []
def step(code):
    kernel_reads.start(base, [], [])
    exec(code, {})
    seen.append(sorted(p for p in kernel_reads.collect()["paths"] if p.endswith('.py')))
step("import helper_a")
step("pass")                       # nothing new: helper_a is still loaded, still counts
step("import helper_b")            # a module imported by a later step
step("import sys; del sys.modules['helper_a']")
step("import sys, types; m = types.ModuleType('helper_b'); "
     "m.__file__ = sys.argv[1] + '/other.py'; sys.modules['helper_b'] = m")
print(json.dumps(seen))
"""


def test_modules_of_the_notebook_folder_are_followed_from_step_to_step(tmp_path: Path) -> None:
    """The recorder looks at ``sys.modules`` again only when it changed: a module imported,
    removed or replaced under its name between two steps of one kernel is noticed."""
    for name in ("helper_a", "helper_b", "other"):
        (tmp_path / f"{name}.py").write_text("X = 1\n")
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(tmp_path), cli_env()["PYTHONPATH"]])}
    out = subprocess.run([sys.executable, "-c", STEPS, str(tmp_path)], env=env,
                         capture_output=True, text=True, check=True, cwd=tmp_path)  # fmt: skip
    assert json.loads(out.stdout) == [
        ["helper_a.py"],
        ["helper_a.py"],
        ["helper_a.py", "helper_b.py"],
        ["helper_b.py"],
        ["other.py"],
    ]
