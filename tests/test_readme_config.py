"""The README's ``jupyter_server_config.py`` example is valid configuration of the extension:
every setting it shows exists and takes the value shown."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from traitlets.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_server_config_example_configures_the_extension() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"Configuration \(`jupyter_server_config\.py`\):\s*```python(?: check)?\n(.*?)```",
                        text, re.S)  # fmt: skip
    assert len(blocks) == 1, "the README's server configuration example is missing"
    c = Config()
    exec(blocks[0], {"c": c})  # noqa: S102 - our own README
    shown = dict(c.MlopsExtension)
    assert {"max_concurrent_runs", "jobs", "step_timeout", "store"} <= set(shown)

    from jupyter_mlops.extension import MlopsExtension

    extension = MlopsExtension(config=c)
    for name, value in shown.items():
        assert extension.has_trait(name), f"README shows c.MlopsExtension.{name}: no such setting"
        assert getattr(extension, name) == value, name
        assert extension.trait_metadata(name, "config"), f"{name} is not configurable"


def test_readme_dask_config_example_offers_the_cluster_per_run() -> None:
    """The Dask section's server configuration: runs stay local by default and the cluster it
    names is offered per run, with the addresses GET info would show."""
    text = README.read_text(encoding="utf-8")
    blocks = [textwrap.dedent(b) for b in re.findall(r"```python check\n(.*?)```", text, re.S)
              if "c.MlopsExtension.dask_scheduler" in b]  # fmt: skip
    assert len(blocks) == 1, "the README's Dask server configuration example is missing"
    c = Config()
    exec(blocks[0], {"c": c})  # noqa: S102 - our own README

    from jupyter_mlops.extension import MlopsExtension

    extension = MlopsExtension(config=c)
    assert extension.executor_spec().local
    cluster = extension.cluster_spec()
    assert (cluster.name, cluster.scheduler) == ("dask", c.MlopsExtension.dask_scheduler)
    assert cluster.shown()["artifacts"] == c.MlopsExtension.artifacts
