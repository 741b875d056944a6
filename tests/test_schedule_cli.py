"""``jupyter mlops schedule`` and ``jupyter mlops scheduler`` with real kernels: exit codes,
run-now outcomes, data changes re-run steps, a scheduler process that fires, stops cleanly on
SIGTERM, and catches up after downtime (coalesce) or not (skip)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fixtures import cli_env, mlops
from schedule_fixtures import (
    active_runs,
    firings,
    schedule_add,
    stdlib_notebook,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sched")
    return stdlib_notebook(root / "nb.ipynb"), root / "store"


def test_add_checks_input_and_prints_the_next_three_firings(project) -> None:
    nb, store = project
    bad = [
        (["--cron", "0 3 * *"], "not a valid cron expression"),
        (["--cron", "0 3 * * *", "--timezone", "Nowhere/Land"], "unknown time zone"),
        (["--cron", "0 3 * * *", "-p", "nope", "1"], "unknown parameter 'nope'"),
        (["--cron", "0 3 * * *", "-p", "scale", "x"], "scale"),
        (["--cron", "0 3 * * *", "--promote", "latest"], "invalid alias 'latest'"),
        (["--cron", "0 3 * * *", "--must-beat", "prod"], "--must-beat"),
        (["--cron", "0 3 * * *", "--no-publish", "--require", "total>1"], "--no-publish"),
    ]
    for args, message in bad:
        done = mlops("schedule", "add", str(nb), "--store", str(store), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    text = mlops("schedule", "add", str(nb), "--store", str(store), "--cron", "30 2 * * *",
                 "--timezone", "Europe/Paris", "-p", "scale", "2")  # fmt: skip
    assert text.returncode == 0, text.stderr
    shown = [line.strip() for line in text.stdout.splitlines() if line.startswith("  ")]
    assert len(shown) == 3 and all(s.endswith(("+01:00", "+02:00")) for s in shown)
    schedule_id = text.stdout.split()[1].rstrip(":")
    record = json.loads(mlops("schedule", "show", schedule_id, "--store", str(store),
                              "--json").stdout)  # fmt: skip
    assert record["next"] == shown and record["parameters"] == {"scale": 2}
    from datetime import datetime

    from croniter import croniter

    start = datetime.fromisoformat(shown[0])
    again = croniter("30 2 * * *", start)
    assert [again.get_next(datetime).isoformat() for _ in range(2)] == shown[1:]
    for action in ("show", "pause", "resume", "remove", "run-now"):
        missing = mlops("schedule", action, "s-00", "--store", str(store))
        assert missing.returncode == 2 and "no schedule 's-00'" in missing.stderr
    assert mlops("schedule", "remove", schedule_id, "--store", str(store)).returncode == 0


def test_run_now_exit_codes_and_outcomes(project) -> None:
    nb, store = project
    failing = schedule_add(nb, store, "--cron", "0 3 * * *", "-p", "fail", "true", "--no-publish")
    done = mlops("schedule", "run-now", failing["id"], "--store", str(store))
    assert done.returncode == 1, done.stderr
    assert "run-failed" in done.stdout and "asked to fail" in done.stdout

    refused = schedule_add(nb, store, "--cron", "0 3 * * *", "--publish", "sums",
                           "--require", "total>=100")  # fmt: skip
    done = mlops("schedule", "run-now", refused["id"], "--store", str(store))
    assert done.returncode == 3, done.stderr
    shown = mlops("schedule", "show", refused["id"], "--store", str(store))
    assert "refused (require total>=100)" in shown.stdout and "total is 3" in shown.stdout
    listing = json.loads(mlops("schedule", "list", "--store", str(store), "--json").stdout)
    outcomes = {s["id"]: (s["last_outcome"] or {}).get("result") for s in listing}
    assert outcomes[failing["id"]] == "run-failed" and outcomes[refused["id"]] == "refused"
    for s in (failing, refused):
        mlops("schedule", "remove", s["id"], "--store", str(store))


def test_changed_data_re_runs_the_steps_between_scheduled_runs(project) -> None:
    nb, store = project
    schedule = schedule_add(nb, store, "--cron", "0 3 * * *", "--no-publish")

    def fire() -> dict:
        done = mlops("schedule", "run-now", schedule["id"], "--store", str(store), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outcome"]["result"] == "succeeded"
        run_id = json.loads(done.stdout)["run_id"]
        return json.loads(mlops("show", run_id, "--store", str(store), "--json").stdout)

    fire()
    (nb.parent / "data.csv").write_text("x\n1\n2\n40\n")
    changed = fire()
    assert changed["steps"]["load"]["status"] == "succeeded"
    assert "data.csv changed" in changed["steps"]["load"]["reason"]
    assert changed["metrics"]["total"] == 43
    mlops("schedule", "remove", schedule["id"], "--store", str(store))


def _scheduler(store: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "scheduler", "--store", str(store),
         "--interval", "0.2", "--grace", "1"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=cli_env(),  # noqa: SIM115
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_scheduler_fires_stops_on_sigterm_and_catches_up(tmp_path: Path) -> None:
    nb = stdlib_notebook(tmp_path / "nb.ipynb")
    store = tmp_path / "store"
    every2 = ["--cron", "* * * * * */2", "--no-publish"]
    coalesce = schedule_add(nb, store, *every2)
    skip = schedule_add(nb, store, *every2, "--catchup", "skip")
    log = tmp_path / "scheduler.log"
    first = _scheduler(store, log)
    try:
        wait_until(lambda: firings(store, coalesce["id"]) and firings(store, skip["id"]), 60)
    finally:
        assert _stop(first) == 0  # SIGTERM: a clean stop
    # a schedule never runs twice at once: let the first runs end before the catch-up
    wait_until(lambda: all(f["outcome"] for f in firings(store)), 180, every=0.5)
    stopped_at = time.time()
    text = log.read_text()
    assert "scheduler started" in text and "scheduler stopped" in text, text
    assert "Traceback" not in text
    before = {s: len(firings(store, s)) for s in (coalesce["id"], skip["id"])}
    time.sleep(max(0.0, stopped_at + 4.5 - time.time()))  # two slots or more go by
    second = _scheduler(store, log)
    try:
        wait_until(lambda: len(firings(store, skip["id"])) > before[skip["id"]], 60)
        wait_until(lambda: len(firings(store, coalesce["id"])) > before[coalesce["id"]], 60)
    finally:
        for s in (coalesce, skip):
            mlops("schedule", "pause", s["id"], "--store", str(store))
        assert _stop(second) == 0
    caught = firings(store, coalesce["id"])[before[coalesce["id"]] :]
    assert caught[0]["kind"] == "catch-up" and caught[0]["missed"] >= 2, caught
    assert caught[0]["run_id"] is not None  # one run for the missed slots
    assert all(f["kind"] != "catch-up" for f in caught[1:])
    skipped = firings(store, skip["id"])[before[skip["id"]] :]
    assert skipped[0]["state"] == "skipped" and skipped[0]["run_id"] is None, skipped
    assert skipped[0]["missed"] >= 2 and skipped[0]["outcome"]["result"] == "skipped"
    assert all(f["kind"] == "cron" and f["missed"] == 0 for f in skipped[1:])  # on time only
    busy = [f for f in firings(store) if (f["outcome"] or {}).get("busy")]
    assert all(f["run_id"] is None and "still going" in f["outcome"]["reason"] for f in busy)
    slots = [f["slot"] for f in firings(store)]
    assert len(slots) == len(set((f["schedule_id"], f["slot"]) for f in firings(store)))
    # every firing's run records its outcome when it ends (let them finish)
    wait_until(lambda: all(f["outcome"] for f in firings(store)), 180, every=0.5)
    assert active_runs(store) == 0
