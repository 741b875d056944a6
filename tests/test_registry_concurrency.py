"""16 publish processes on a fresh store: one schema creation, versions 1..16, no error."""

from __future__ import annotations

import subprocess
import sys

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow


def test_16_concurrent_publishes_on_a_fresh_store(tmp_path):
    store = tmp_path / "store"
    clf, X = rf.iris(n_estimators=3)
    rec = rf.make_record(store, clf, X)
    assert not (store / "registry.db").exists()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                rf.__file__,
                "publish",
                rec["id"],
                "--name",
                "race",
                "--store",
                str(store),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=rf.cli_env(),
        )  # fmt: skip
        for _ in range(16)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    errors = [
        (p.returncode, err) for p, (_, err) in zip(procs, results, strict=True) if p.returncode
    ]
    assert not errors, errors[0]
    import json

    versions = sorted(json.loads(out)["version"] for out, _ in results)
    assert versions == list(range(1, 17))
    listing = json.loads(rf.cli("models", "race", "--json", "--store", str(store)).stdout)
    assert [v["version"] for v in listing["versions"]] == list(range(16, 0, -1))
