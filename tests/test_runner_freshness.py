"""Cache validity follows the data: files read, folder listings, TTL, --refresh, the kernel
environment, and why each step ran or was cached (real kernels, the real CLI)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fixtures import cli_env, code, mlops, run_json, statuses, write_notebook


def _run(nb: Path, store: Path, *args: str, env: dict | None = None) -> dict:
    if env is None:
        code_, record, stderr = run_json(str(nb), "--store", str(store), *args)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store)]
            + [*args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        code_, stderr = proc.returncode, proc.stderr
        record = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert code_ == 0, stderr
    return record


def _reasons(record: dict) -> dict[str, str]:
    return {name: step["reason"] for name, step in record["steps"].items()}


@pytest.fixture
def csv_notebook(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "data" / "extra.csv").write_text("x,y\n5,6\n")
    return write_notebook(
        tmp_path / "nb.ipynb",
        [
            code("factor = 2", "parameters"),
            code("import csv, glob", "setup"),
            code("rows = list(csv.reader(open('data/train.csv')))", "step:load"),
            code("total = sum(int(r[0]) for r in rows[1:])", "step:train"),
            code("score = total * factor", "step:evaluate"),
            code("parts = sorted(glob.glob('data/*.csv'))", "step:listing"),
            code("k = 7", "step:independent"),
            code("score", "metrics"),
        ],
    )


def test_editing_a_csv_reruns_its_reader_and_dependents(csv_notebook: Path, tmp_path: Path):
    store = tmp_path / "s"
    first = _run(csv_notebook, store)
    assert set(statuses(first).values()) == {"succeeded"}
    assert first["metrics"] == {"score": 8}
    (tmp_path / "data" / "train.csv").write_text("x,y\n1,2\n9,4\n")  # same size, new content
    again = _run(csv_notebook, store)
    assert statuses(again) == {
        "load": "succeeded",
        "train": "succeeded",
        "evaluate": "succeeded",
        "listing": "cached",
        "independent": "cached",
    }
    assert again["metrics"] == {"score": 20}
    reasons = _reasons(again)
    assert reasons["load"] == "data/train.csv changed"
    assert reasons["train"] == "input rows changed"
    assert reasons["independent"] == f"cached from run {first['id']}"
    # `show` says why too
    shown = mlops("show", again["id"], "--store", str(store))
    assert shown.returncode == 0, shown.stderr
    load_line = next(line for line in shown.stdout.splitlines() if line.startswith("load "))
    assert "data/train.csv changed" in load_line
    assert "cached from run" in next(
        line for line in shown.stdout.splitlines() if line.startswith("independent ")
    )


def test_touch_without_change_stays_cached(csv_notebook: Path, tmp_path: Path):
    store = tmp_path / "s"
    _run(csv_notebook, store)
    csv_file = tmp_path / "data" / "train.csv"
    later = time.time() + 5  # even newer than the recording: the digest decides
    os.utime(csv_file, (later, later))
    again = _run(csv_notebook, store)
    assert set(statuses(again).values()) == {"cached"}
    # the re-verified stat was saved: the cache entry now holds the new mtime
    db = sqlite3.connect(store / "runs.db")
    manifests = [json.loads(m) for (m,) in db.execute("SELECT manifest FROM cache")]
    db.close()
    entry = next(
        m["reads"]["paths"]["data/train.csv"]
        for m in manifests
        if "data/train.csv" in m["reads"]["paths"]
    )
    assert entry["mtime_ns"] == csv_file.stat().st_mtime_ns


def test_a_folder_listing_gaining_a_file_reruns(csv_notebook: Path, tmp_path: Path):
    store = tmp_path / "s"
    _run(csv_notebook, store)
    (tmp_path / "data" / "more.csv").write_text("x,y\n7,8\n")
    again = _run(csv_notebook, store)
    assert statuses(again)["listing"] == "succeeded"
    assert _reasons(again)["listing"] == "data changed (files added or removed)"
    assert statuses(again)["load"] == "cached"  # it only opened train.csv, never listed data/


def test_files_the_step_wrote_and_the_store_are_not_reads(tmp_path: Path):
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [
            code(
                "with open('out.txt', 'w') as fh:\n    fh.write('hello')\n"
                "echo = open('out.txt').read()",
                "step:write",
            ),
            code("n = len(echo)", "step:use"),
        ],
    )
    store = tmp_path / "s"
    first = _run(nb, store)
    db = sqlite3.connect(store / "runs.db")
    recorded = [
        json.loads(m)["reads"]["paths"] for (m,) in db.execute("SELECT manifest FROM cache")
    ]
    db.close()
    assert recorded == [{}, {}]  # neither out.txt nor artifacts, site-packages, /proc...
    (tmp_path / "out.txt").write_text("changed by someone else")
    again = _run(nb, store)
    assert set(statuses(again).values()) == {"cached"}
    assert again["steps"]["use"]["cached_from"] == first["id"]


def test_reads_tag_covers_readers_that_bypass_open(tmp_path: Path):
    """sqlite3 opens its file in C (no `open` audit event): `reads:` declares it."""
    db_path = tmp_path / "data.db"
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE t (v INTEGER)")
    con.execute("INSERT INTO t VALUES (1), (2)")
    con.commit()
    con.close()
    query = "import sqlite3\nv = sqlite3.connect('data.db').execute('SELECT sum(v) FROM t').fetchone()[0]"
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [
            code(query, "step:declared", "reads:data.db"),
            code(query.replace("v =", "w ="), "step:undeclared"),
            code("v\nw", "metrics"),
        ],
    )
    store = tmp_path / "s"
    assert _run(nb, store)["metrics"] == {"v": 3, "w": 3}
    con = sqlite3.connect(db_path)
    con.execute("INSERT INTO t VALUES (10)")
    con.commit()
    con.close()
    again = _run(nb, store)
    assert statuses(again) == {"declared": "succeeded", "undeclared": "cached"}
    assert _reasons(again)["declared"] == "data.db changed"
    assert again["metrics"] == {"v": 13, "w": 3}


def test_cache_ttl_expires(tmp_path: Path):
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import time\nt = time.time()", "step:fetch", "cache:ttl=1s"),
            code("u = 1", "step:slow", "cache:ttl=1h"),
        ],
    )
    store = tmp_path / "s"
    _run(nb, store)
    time.sleep(1.5)
    again = _run(nb, store)
    assert statuses(again) == {"fetch": "succeeded", "slow": "cached"}
    assert _reasons(again)["fetch"].startswith("cache entry expired (cache:ttl=1 s, ")


def test_refresh_reruns_a_step_and_its_dependents(csv_notebook: Path, tmp_path: Path):
    store = tmp_path / "s"
    _run(csv_notebook, store)
    again = _run(csv_notebook, store, "--refresh", "train", "--refresh", "listing")
    assert statuses(again) == {
        "load": "cached",
        "train": "succeeded",
        "evaluate": "succeeded",
        "listing": "succeeded",
        "independent": "cached",
    }
    reasons = _reasons(again)
    assert reasons["train"] == reasons["listing"] == "--refresh"
    assert reasons["evaluate"] == "--refresh train (upstream)"
    bad = mlops("run", str(csv_notebook), "--store", str(store), "--refresh", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: --refresh nope: nb.ipynb has no step 'nope' "
        "(steps: load, train, evaluate, listing, independent)"
    )


def test_miss_reasons_name_what_changed(csv_notebook: Path, tmp_path: Path):
    import nbformat

    store = tmp_path / "s"
    _run(csv_notebook, store)
    assert set(_reasons(_run(csv_notebook, store, "--no-cache")).values()) == {"--no-cache"}
    param = _run(csv_notebook, store, "-p", "factor", "3")
    assert _reasons(param)["evaluate"] == "parameter factor changed"
    nb = nbformat.read(str(csv_notebook), as_version=4)
    nb.cells[4].source = "score = total * factor + 1"
    nbformat.write(nb, str(csv_notebook))
    edited = _run(csv_notebook, store)
    assert _reasons(edited)["evaluate"] == "code changed; parameter factor changed"
    nb.cells[1].source = "import csv, glob, json"
    nbformat.write(nb, str(csv_notebook))
    setup = _run(csv_notebook, store)
    assert _reasons(setup)["load"] == "setup code changed"


@pytest.fixture(scope="module")
def second_venv(tmp_path_factory) -> Path:
    """A venv whose Python sees our venv's packages through a .pth file (no pip)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "our_packages.pth").write_text("\n".join(ours) + "\n")
    return root


def test_a_package_version_change_in_the_kernel_environment_reruns(
    second_venv: Path, tmp_path: Path
):
    site = next((second_venv / "lib").glob("python3*/site-packages"))
    kernels = tmp_path / "jupyter" / "kernels" / "venvkernel"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(second_venv / "bin" / "python"),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "second venv",
                "language": "python",
            }
        )
    )
    nb = write_notebook(tmp_path / "nb.ipynb", [code("import sys\nprefix = sys.prefix", "step:a")])
    notebook = json.loads(nb.read_text())
    notebook["metadata"]["kernelspec"]["name"] = "venvkernel"
    nb.write_text(json.dumps(notebook))
    env = {**cli_env(), "JUPYTER_PATH": str(tmp_path / "jupyter")}
    store = tmp_path / "s"
    first = _run(nb, store, env=env)
    assert statuses(first) == {"a": "succeeded"}
    assert _run(nb, store, env=env)["steps"]["a"]["status"] == "cached"
    dist = site / "fakepkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    installed = _run(nb, store, env=env)
    assert statuses(installed) == {"a": "succeeded"}
    assert _reasons(installed)["a"] == "kernel environment changed (Python or installed packages)"
    assert _run(nb, store, env=env)["steps"]["a"]["status"] == "cached"
    dist.rename(site / "fakepkg-1.1.dist-info")  # an upgrade
    upgraded = _run(nb, store, env=env)
    assert statuses(upgraded) == {"a": "succeeded"}
    (site / "fakepkg-1.1.dist-info").rename(site / "fakepkg-1.0.dist-info")  # a downgrade back
    back = _run(nb, store, env=env)
    assert back["steps"]["a"]["status"] == "cached"
    assert back["steps"]["a"]["cached_from"] == installed["id"]


def test_failed_and_skipped_steps_say_why(tmp_path: Path):
    import nbformat

    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [code("a = 1 / 0", "step:a"), code("b = a + 1", "step:b")],
    )
    store = tmp_path / "s"
    code_, failed, _ = run_json(str(nb), "--store", str(store))
    assert code_ == 1
    assert _reasons(failed) == {
        "a": "no cache entry (first run of this step)",
        "b": "step a failed",
    }
    book = nbformat.read(str(nb), as_version=4)
    book.cells[0].source = "a = 1 / 1"
    nbformat.write(book, str(nb))
    fixed = _run(nb, store)
    assert _reasons(fixed) == {"a": "code changed", "b": "no cache entry (first run of this step)"}
