"""Alias moves without MLflow (``registry/fastwrite.py``) leave the registry exactly as
MLflow's own calls would: read back through the real MLflow client."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.registry import catalog, fastread, fastwrite
from jupyter_mlops.registry.client import open_client


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A real embedded MLflow registry with model ``m`` (versions 1 and 2)."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    client = open_client(uri)
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", source=str(tmp_path), run_id=None)
    return uri, client


def table(uri: str, name: str) -> list[tuple]:
    with sqlite3.connect(fastread.sqlite_file(uri)) as db:
        return sorted(db.execute(f"SELECT * FROM {name}").fetchall())  # noqa: S608 - test


def test_set_and_delete_alias_as_mlflow_sees_them(registry):
    uri, client = registry
    first = fastwrite.set_alias(uri, "m", "champion", 1)
    assert int(client.get_model_version_by_alias("m", "champion").version) == 1
    moved = fastwrite.set_alias(uri, "m", "champion", "2")
    assert int(client.get_model_version_by_alias("m", "champion").version) == 2
    assert (first["from_version"], first["to_version"]) == (None, 1)
    assert (moved["from_version"], moved["to_version"]) == (1, 2)

    # the history tags are the ones registry.history writes through MLflow
    history = catalog.history(client, "m")
    assert [(e["event"], e["alias"], e["from_version"], e["to_version"]) for e in history] == [
        ("alias-set", "champion", None, 1),
        ("alias-set", "champion", 1, 2),
    ]
    assert history == [first, moved]

    gone = fastwrite.delete_alias(uri, "m", "champion")
    assert (gone["event"], gone["from_version"], gone["to_version"]) == ("alias-delete", 2, None)
    assert catalog.current_alias_version(client, "m", "champion") is None
    assert catalog.history(client, "m")[-1] == gone

    # and an alias MLflow sets is one the fast path sees and replaces
    client.set_registered_model_alias("m", "prod", "1")
    assert fastwrite.set_alias(uri, "m", "prod", 2)["from_version"] == 1


def test_refusals_change_nothing(registry):
    uri, client = registry
    fastwrite.set_alias(uri, "m", "champion", 1)
    before = (table(uri, "registered_model_aliases"), table(uri, "registered_model_tags"))
    cases = [
        (NotFound, lambda: fastwrite.set_alias(uri, "m", "champion", 9)),
        (NotFound, lambda: fastwrite.set_alias(uri, "nope", "champion", 1)),
        (NotFound, lambda: fastwrite.delete_alias(uri, "m", "never-set")),
        (InvalidInput, lambda: fastwrite.set_alias(uri, "m", "latest", 1)),
        (InvalidInput, lambda: fastwrite.set_alias(uri, "m", "V2", 1)),
        (InvalidInput, lambda: fastwrite.set_alias(uri, "m", "a" * 256, 1)),
        (InvalidInput, lambda: fastwrite.set_alias(uri, "m", "ok", "two")),
    ]
    for error, call in cases:
        with pytest.raises(error):
            call()
    assert (table(uri, "registered_model_aliases"), table(uri, "registered_model_tags")) == before


def test_other_revision_or_server_steps_aside(registry, tmp_path):
    uri, _ = registry
    copy = tmp_path / "other.db"
    shutil.copy(fastread.sqlite_file(uri), copy)
    with sqlite3.connect(copy) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    before = table(f"sqlite:///{copy}", "registered_model_aliases")
    with pytest.raises(fastread.Unavailable):
        fastwrite.set_alias(f"sqlite:///{copy}", "m", "champion", 1)
    assert table(f"sqlite:///{copy}", "registered_model_aliases") == before
    with pytest.raises(fastread.Unavailable):
        fastwrite.set_alias("http://127.0.0.1:1", "m", "champion", 1)
