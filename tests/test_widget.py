"""``PipelineWidget`` driven from Python against real components: a real store, real run
processes and kernels, a real MLflow registry. Buttons are clicked through their handlers
(``button.click()``), state is observed on the widgets' models (``observe``)."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from runner_fixtures import cli_env, code, write_notebook

FINAL = ("succeeded", "failed", "cancelled", "interrupted")


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's registry is the embedded one of its own store."""
    for var in ("JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI", "JUPYTER_MLOPS_STORE"):
        monkeypatch.delenv(var, raising=False)


def shown(widget) -> str:
    """What an HTML widget shows, tags left in, entities decoded."""
    return html.unescape(widget.value)


def wait_for(predicate: Callable[[], bool], timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def record_values(widget, log: list, key) -> None:
    """Append ``(key, new value, thread name)`` to ``log`` on every change of ``value``."""
    widget.observe(
        lambda change: log.append((key, change["new"], threading.current_thread().name)),
        "value",
    )


def flow_notebook(path: Path, publish: dict | None = None, sleep: float = 1.0) -> Path:
    """load -> train (sleeps, so `running` lasts) -> evaluate; a float parameter that the
    metric depends on; a model whose class is defined in the notebook (stdlib only)."""
    nb = write_notebook(
        path,
        [
            code("scale = 2.0\nrounds = 3\nlabel = 'a'\nsizes = [1, 2]", "parameters"),
            code("score", "metrics"),
            code("data = [i * scale for i in range(10)]", "step:load"),
            code(
                f"import time\nprint('training', flush=True)\ntime.sleep({sleep})\n"
                "class Model:\n"
                "    def predict(self, X):\n"
                "        return [sum(row) * scale for row in X]\n"
                "model = Model()\n"
                "model.offset = len(data)\n"
                "X = [[1.0, 2.0], [3.0, 4.0]]",
                "step:train",
                "model:model",
                "example:X",
            ),
            code("score = sum(data) + rounds + len(sizes) + len(X)", "step:evaluate"),
        ],
    )
    if publish is not None:
        content = json.loads(nb.read_text())
        content["metadata"]["mlops"] = {"publish": publish}
        nb.write_text(json.dumps(content))
    return nb


def widget_for(nb: Path, store: Path, **kwargs):
    from jupyter_mlops.widgets import PipelineWidget

    return PipelineWidget(str(nb), store=str(store), poll_interval=0.05, **kwargs)


def wait_run_end(widget, timeout: float = 180) -> dict:
    wait_for(lambda: widget.record is not None and not widget.run_button.disabled, timeout,
             "the run to end")  # fmt: skip
    return widget.record


# -- no kernels --------------------------------------------------------------------------------
def test_importing_and_making_the_widget_stays_light(tmp_path: Path) -> None:
    """``import jupyter_mlops.widgets`` imports nothing heavy; a widget imports ipywidgets but
    never MLflow, pandas or papermill into the kernel."""
    nb = flow_notebook(tmp_path / "flow.ipynb")
    script = (
        "import sys\n"
        "import jupyter_mlops.widgets\n"
        "heavy = ('mlflow', 'pandas', 'papermill', 'ipywidgets', 'numpy')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "from jupyter_mlops.widgets import PipelineWidget\n"
        f"w = PipelineWidget({str(nb)!r}, store={str(tmp_path / 'store')!r})\n"
        "assert list(w.steps) == ['load', 'train', 'evaluate'], w.steps\n"
        "print([m for m in heavy[:3] if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=cli_env(), cwd=tmp_path, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]"]


def test_steps_form_and_publish_settings(tmp_path: Path) -> None:
    nb = flow_notebook(
        tmp_path / "flow.ipynb", publish={"name": "flowmodel", "require": ["score>=1"]}
    )
    widget = widget_for(nb, tmp_path / "store")
    import ipywidgets as w

    assert list(widget.steps) == ["load", "train", "evaluate"]
    assert "load (data)" in shown(widget.steps["train"].title)  # dependencies, with variables
    assert "load (data), train (X)" in shown(widget.steps["evaluate"].title)
    controls = widget.form.controls
    assert isinstance(controls["scale"], w.FloatText) and controls["scale"].value == 2.0
    assert isinstance(controls["rounds"], w.IntText) and controls["rounds"].value == 3
    assert isinstance(controls["label"], w.Text) and controls["label"].value == "a"
    assert isinstance(controls["sizes"], w.Textarea) and json.loads(controls["sizes"].value) == [
        1,
        2,
    ]
    assert "flowmodel" in shown(widget.publish_settings)
    assert "require score>=1" in shown(widget.publish_settings)
    assert widget.publish_button.disabled and not widget.run_button.disabled
    controls["rounds"].value = 9
    widget.form.reset_button.click()
    assert controls["rounds"].value == 3
    widget.close()


def test_reload_follows_the_saved_notebook_and_keeps_form_values(tmp_path: Path) -> None:
    nb = flow_notebook(tmp_path / "flow.ipynb")
    widget = widget_for(nb, tmp_path / "store")
    widget.form.controls["scale"].value = 7.0
    widget.form.controls["rounds"].value = 4
    write_notebook(
        nb,
        [
            code("scale = 2.0\nrounds = 'three'\nepochs = 5", "parameters"),
            code("data = [scale] * epochs", "step:load"),
            code("total = sum(data)", "step:sum"),
        ],
    )
    widget.reload_button.click()
    assert list(widget.steps) == ["load", "sum"]
    controls = widget.form.controls
    assert list(controls) == ["scale", "rounds", "epochs"]
    assert controls["scale"].value == 7.0  # same name and type: the value set is kept
    assert controls["rounds"].value == "three"  # its type changed: the new default
    assert controls["epochs"].value == 5
    widget.close()


def test_form_controls_follow_the_declared_types(tmp_path: Path) -> None:
    """A secret is a Password field; numbers the browser cannot hold exactly (and inf/nan)
    are text, converted as on the command line."""
    import ipywidgets as w

    nb = write_notebook(
        tmp_path / "types.ipynb",
        [
            code(
                'token = ""\nflag = True\nx = None\nbig = 100000000000000000000\nf = 1e999',
                "parameters",
                "secret:token",
            ),
            code("y = flag", "step:a"),
        ],
    )
    widget = widget_for(nb, tmp_path / "store")
    controls = widget.form.controls
    assert isinstance(controls["token"], w.Password)
    assert isinstance(controls["flag"], w.Checkbox) and controls["flag"].value is True
    assert isinstance(controls["big"], w.Text) and isinstance(controls["f"], w.Text)
    controls["token"].value = "env:MY_TOKEN"
    assert widget.form.values() == {"token": "env:MY_TOKEN", "flag": True, "x": None,
                                    "big": 10**20, "f": float("inf")}  # fmt: skip
    controls["big"].value = "12x"
    from jupyter_mlops.errors import InvalidInput

    with pytest.raises(InvalidInput, match="parameter 'big' expects int, got '12x'"):
        widget.form.values()
    widget.close()


def test_bad_form_values_are_refused_before_a_run_exists(tmp_path: Path) -> None:
    nb = flow_notebook(tmp_path / "flow.ipynb")
    widget = widget_for(nb, tmp_path / "store")
    widget.form.controls["sizes"].value = "[1, 2"  # not JSON
    widget.run_button.click()
    assert "parameter 'sizes' expects list" in shown(widget.messages)
    assert widget.run_id is None and not widget.run_button.disabled
    assert not (tmp_path / "store" / "runs.db").exists()
    widget.close()


def test_a_notebook_broken_after_display_fails_the_run_request_in_the_widget(
    tmp_path: Path,
) -> None:
    """Run compiles the notebook as saved now: an error is shown, no run is recorded."""
    nb = flow_notebook(tmp_path / "flow.ipynb")
    widget = widget_for(nb, tmp_path / "store")
    write_notebook(nb, [code("a = 1", "step:one"), code("c = a + nowhere", "step:two")])
    widget.run_button.click()
    wait_for(lambda: "nowhere" in shown(widget.messages), 30, "the compile error")
    wait_for(lambda: not widget.run_button.disabled, 30, "Run enabled again")
    assert widget.run_id is None and widget.cancel_button.disabled
    from jupyter_mlops.service import MlopsService

    assert MlopsService.create(store=str(tmp_path / "store")).runs() == []
    widget.close()


def test_a_missing_or_broken_notebook_is_shown_not_raised(tmp_path: Path) -> None:
    missing = widget_for(tmp_path / "nope.ipynb", tmp_path / "store")
    assert "nope.ipynb: no such notebook" in shown(missing.messages)
    assert missing.run_button.disabled
    missing.close()
    broken = write_notebook(
        tmp_path / "broken.ipynb", [code("a = 1", "step:one"), code("c = a + missing", "step:two")]
    )
    widget = widget_for(broken, tmp_path / "store")
    assert "missing" in shown(widget.messages) and "error:" in shown(widget.messages)
    assert widget.run_button.disabled
    widget.close()


# -- real runs ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_run_live_then_publish_and_a_refused_gate(tmp_path: Path) -> None:
    """Set a parameter in the form, Run: every step succeeds, with the intermediate states
    observed on the widgets' models from the follower thread while this thread was free;
    the value reached the run. Publish -> version 1 @champion; Publish again -> the
    must-beat gate refuses (the same score does not beat @champion), shown with its values."""
    store = tmp_path / "store"
    nb = flow_notebook(
        tmp_path / "flow.ipynb", publish={"aliases": ["champion"], "must_beat": "champion:score"}
    )
    widget = widget_for(nb, store)
    log: list = []
    for name, row in widget.steps.items():
        record_values(row.status, log, name)
    record_values(widget.run_status, log, "run")
    widget.form.controls["scale"].value = 5.0
    widget.form.controls["sizes"].value = "[1, 2, 3]"

    widget.run_button.click()
    assert widget.run_status.value not in FINAL  # the click only started the run
    assert widget.run_button.disabled and not widget.cancel_button.disabled
    ticks = 0
    while widget.record is None:  # this thread stays free while the run goes on
        ticks += 1
        time.sleep(0.01)
        assert ticks < 20_000, "the run did not end"
    record = wait_run_end(widget)

    assert record["status"] == "succeeded", record
    assert {n: s["status"] for n, s in record["steps"].items()} == dict.fromkeys(
        ["load", "train", "evaluate"], "succeeded"
    )
    for name in ("load", "train", "evaluate", "run"):
        seen = [value for key, value, _ in log if key == name]
        assert seen.index("running") < seen.index("succeeded"), (name, seen)
    assert all(row.status.value == "succeeded" for row in widget.steps.values())
    assert [v for k, v, _ in log if k == "run"][-1] == "succeeded"
    assert any(thread != threading.main_thread().name for _, _, thread in log)
    assert ticks > 10  # the calling thread ran while the run went on
    assert record["parameters"]["scale"] == 5.0 and record["parameters"]["sizes"] == [1, 2, 3]
    score = sum(i * 5.0 for i in range(10)) + 3 + 3 + 2
    assert record["metrics"] == {"score": score}
    assert "score" in shown(widget.metrics) and f"{score:g}" in shown(widget.metrics)
    assert "champion" in shown(widget.publish_settings) and "must beat" in shown(
        widget.publish_settings
    )

    assert not widget.publish_button.disabled
    widget.publish_button.click()
    assert widget.publish_button.disabled  # publishing goes on in a child process
    wait_for(lambda: not widget.publish_button.disabled, 300, "the publish")
    result = shown(widget.publish_result)
    assert "published <b>flow</b> version <b>1</b>" in result, result
    assert "@champion" in result and "no version holds @champion yet" in result

    from jupyter_mlops.service import MlopsService

    service = MlopsService.create(store=str(store))
    model = service.models("flow")
    assert [v["version"] for v in model["versions"]] == [1]
    assert model["aliases"] == {"champion": 1} or model["aliases"].get("champion") in (1, "1")

    widget.publish_button.click()
    wait_for(lambda: not widget.publish_button.disabled, 300, "the refused publish")
    refused = shown(widget.publish_result)
    assert "gate --must-beat champion:score failed" in refused, refused
    assert f"{score:g} vs {score:g} (version 1)" in refused  # the gate's values, as checks
    assert [v["version"] for v in service.models("flow")["versions"]] == [1]
    widget.close()


@pytest.mark.slow
def test_a_failed_step_shows_its_error(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "bad.ipynb",
        [
            code("a = 1", "step:prepare"),
            code("b = a + 1\nraise ValueError('the data is bad')", "step:explode"),
            code("c = b * 2", "step:after"),
        ],
    )
    widget = widget_for(nb, tmp_path / "store")
    log: list = []
    record_values(widget.steps["explode"].status, log, "explode")
    widget.run_button.click()
    record = wait_run_end(widget)
    assert record["status"] == "failed"
    assert [v for _, v, _ in log][-2:] == ["running", "failed"]
    assert widget.steps["prepare"].status.value == "succeeded"
    assert widget.steps["explode"].status.value == "failed"
    assert widget.steps["after"].status.value == "skipped"
    detail = shown(widget.steps["explode"].detail)
    assert "ValueError: the data is bad (cell 2)" in detail
    assert "explode.ipynb" in detail  # the executed notebook, to open
    assert widget.run_status.value == "failed" and widget.publish_button.disabled
    widget.close()


def _run_pid(store: Path, run_id: str) -> int:
    from jupyter_mlops.runner.store import Store

    with Store.open_existing(store) as db:
        return int(db.run_state(run_id)["pid"])


@pytest.mark.slow
def test_cancel_a_killed_run_and_close_leave_the_kernel_alone(tmp_path: Path) -> None:
    """Cancel stops the run (cancelled); a run process killed with SIGKILL is shown as
    interrupted and this process lives on; closing the widget stops its thread while the run
    goes on in its own process, and a new widget of the notebook follows that run."""
    store = tmp_path / "store"
    nb = flow_notebook(tmp_path / "slow.ipynb", sleep=60)
    widget = widget_for(nb, store, jobs=1)

    widget.run_button.click()
    wait_for(lambda: widget.steps["train"].status.value == "running", 120, "train running")
    widget.cancel_button.click()
    assert wait_run_end(widget, 60)["status"] == "cancelled"
    assert widget.run_status.value == "cancelled"

    widget.run_button.click()
    wait_for(lambda: widget.steps["train"].status.value == "running", 120, "train running")
    os.kill(_run_pid(store, widget.run_id), signal.SIGKILL)  # the run crashes
    record = wait_run_end(widget, 60)
    assert record["status"] == "interrupted"
    assert widget.steps["train"].status.value == "failed"
    assert not widget.run_button.disabled  # the widget (and this process) carry on

    widget.run_button.click()
    wait_for(lambda: widget.steps["train"].status.value == "running", 120, "train running")
    run_id = widget.run_id
    widget.close()
    assert not any(t.name == "mlops-widget-run" for t in threading.enumerate())
    from jupyter_mlops.service import MlopsService

    service = MlopsService.create(store=str(store))
    assert service.get_run(run_id)["status"] == "running"  # it goes on without the widget

    again = widget_for(nb, store)  # the cell executed again: it follows the run going on
    wait_for(lambda: again.run_id == run_id, 30, "the new widget to attach")
    wait_for(lambda: again.steps["train"].status.value == "running", 30, "replayed states")
    assert again.steps["load"].status.value in ("succeeded", "cached")
    assert again.run_button.disabled
    again.cancel_button.click()
    assert wait_run_end(again, 60)["status"] == "cancelled"
    assert service.get_run(run_id)["status"] == "cancelled"
    again.close()
