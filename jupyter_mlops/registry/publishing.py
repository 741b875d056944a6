"""Publish a pipeline run's model as a new, immutable version in the model registry.

Order (nothing is registered until the model is proven loadable, and a version is created
only after its files are uploaded, so a publish killed at any point leaves no version
pointing at missing artifacts):

1. resolve the run, check it succeeded and has a model; ``--require`` gates;
2. start a fresh process of the kernel's own Python (``environment.executable`` of the
   run), whose imports overlap with the rest; it answers each request in a fork of itself
   that never held the model (see ``deploy_check.py``);
3. the save loads the model artifact (digest checked) and writes it natively (skops or
   cloudpickle); wrap it as an MLflow model (sklearn/skops or cloudpickle pyfunc) with
   explicit pip requirements, signature and input example; hand it to the check;
4. ``--must-beat`` gate; create the MLflow run (params, metrics, tags, step notebooks,
   report) and a logged model while the check runs;
5. check failed → mark the run failed and delete it, no version; else upload the checked
   files, create the version (tags: trusted types, metrics, run id...), attach the model
   card, move aliases, and append to the history.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import GateRefused
from . import fastpublish, flavors
from .catalog import METRICS_TAG, RUN_ID_TAG, current_alias_version
from .client import (
    ensure_experiment,
    ensure_registered_model,
    mlflow_errors,
    open_client,
    registry_lock,
)
from .deploy_check import ModelProcess, kernel_python
from .gates import (
    check_must_beat,
    check_requires,
    no_incumbent,
    parse_must_beat,
    parse_require,
    promotion,
)
from .history import record_event
from .loading import FORMAT_TAG, NATIVE_TAG, SHA256_TAG, TRUSTED_TYPES_TAG
from .model_card import build_card, key_packages
from .names import default_model_name, validate_names
from .provenance import git_info, run_tags, utcnow, who
from .runs import check_publishable, resolve_run

_PAUSE_ENV = "JUPYTER_MLOPS_TEST_PAUSE_AT"  # tests: sleep at a named stage (kill -9 tests)


class DeployabilityFailed(GateRefused):
    """The model could not be loaded or could not predict in a fresh process (exit 3)."""

    def details(self) -> dict:
        checks = {"gates": [], **self.checks}
        checks.setdefault("deployability", {"ok": False, "error": self.messages[0]})
        return {"checks": checks}


def _pause(stage: str) -> None:
    import os

    if os.environ.get(_PAUSE_ENV) == stage:
        print(f"paused at {stage}", flush=True)
        time.sleep(3600)


def publish_run(
    store: Path,
    registry_uri: str,
    run_id: str,
    name: str | None,
    description: str | None = None,
    aliases: Iterable[str] = (),
    require: Iterable[str] = (),
    must_beat: str | None = None,
    notebook: str | None = None,
    promote: str | None = None,
    schedule: str | None = None,
) -> dict[str, Any]:
    """Publish run ``run_id`` (or ``latest``) as a new version of ``name`` (default: from
    the run's notebook file name); see module doc.

    ``promote``: with it, ``must_beat`` is no gate: it decides only whether alias
    ``promote`` moves to the new version (decided under the registry's write lock); the
    result's ``promoted`` and ``promotion`` say what happened and why. ``schedule``: the id
    of the schedule publishing, recorded in the model's history."""
    aliases = validate_names(name, aliases) if name is not None else list(aliases)
    requires = [parse_require(r) for r in require]
    beat = parse_must_beat(must_beat)
    record = resolve_run(Path(store), run_id, notebook)
    if name is None:
        name = default_model_name(record.get("notebook"))
        aliases = validate_names(name, aliases)
    if promote is not None:
        promote = validate_names(name, [promote])[0]
        aliases = [a for a in aliases if a != promote]  # it moves only when promoted
    check_publishable(record)
    metrics = {k: v for k, v in (record.get("metrics") or {}).items()}
    gates = check_requires(requires, metrics)
    extra = {"schedule": schedule} if schedule else {}
    decide = None
    if promote is not None:
        if beat is not None:
            promotion(beat, promote, metrics, None)  # the run's metric exists (else exit 2)
        decide = _Promotion(beat, promote, metrics)
        beat = None
    if beat is not None:
        try:
            fast = _must_beat_fast(registry_uri, name, beat, metrics)  # refuse before MLflow
        except GateRefused as exc:
            _add_passed(exc, gates)
            raise
        if fast is not None:
            gates.append(fast)
            beat = None
    python = kernel_python(record.get("environment"))
    saver = checker = ModelProcess(python)  # one server, a fresh fork per request
    fast = fastpublish.experiment(registry_uri) if beat is None else None
    warm = _warm_up(registry_uri) if fast is None else None
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-publish-") as tmp:
            native = _save_native(record, Path(tmp), saver)
            has_example = bool(record.get("example"))
            if fast is not None and fastpublish.supports(native, has_example):
                result = _publish_fast(
                    record, Path(tmp), native, checker, registry_uri, fast, name, description,
                    aliases, gates, metrics, (decide, extra),
                )  # fmt: skip
            else:
                warm = warm or _warm_up(registry_uri)
                result = _publish(
                    record, Path(tmp), native, (checker, warm), registry_uri, name, description,
                    aliases, gates, beat, metrics, (decide, extra),
                )  # fmt: skip
    except GateRefused as exc:
        _add_passed(exc, gates)
        raise
    finally:
        saver.cancel()
        if warm is not None:
            warm.join()
    _note_published(Path(store), result)
    return result


class _Promotion:
    """The ``--promote`` decision, made where the alias would move (under the registry
    lock): :meth:`__call__` takes the holder of the ``--must-beat`` alias."""

    def __init__(self, beat: Any, alias: str, metrics: dict[str, Any]) -> None:
        self.beat, self.alias, self.metrics = beat, alias, metrics

    @property
    def holder_alias(self) -> str | None:
        return self.beat.alias if self.beat is not None else None

    def __call__(self, holder: tuple[int, dict] | None) -> dict[str, Any]:
        return promotion(self.beat, self.alias, self.metrics, holder)


def _promoted(result: dict[str, Any], decision: dict[str, Any] | None) -> dict[str, Any]:
    """``result`` with ``promoted`` and ``promotion`` (and the moved alias) when
    ``--promote`` was given."""
    if decision is None:
        return result
    result["promoted"] = decision["promoted"]
    result["promotion"] = decision
    result["checks"]["promotion"] = decision
    return result


def _add_passed(exc: GateRefused, passed: list[dict]) -> None:
    """Every gate evaluated in ``exc.checks``, the passed ones first (REST 409 ``checks``)."""
    failed = [g for g in exc.checks.get("gates", []) if g not in passed]
    exc.checks = {**exc.checks, "gates": [*passed, *failed]}


def _note_published(store: Path, result: dict[str, Any]) -> None:
    """Tell the run store the run was published (``gc`` keeps it); best effort."""
    from ..runner.store import Store

    try:
        with Store.open(store) as db:
            db.add_published(result["run_id"], result["name"], result["version"],
                             result["registry_uri"])  # fmt: skip
    except Exception:  # noqa: BLE001 - a read-only store: gc still reads a local registry
        pass


def _warm_up(uri: str) -> threading.Thread:
    """Import MLflow and open the registry client in a thread, while the kernel's Python
    loads the model (≈ 3 s of imports on each side, overlapped). Errors are left for the
    main thread to meet and report when it makes the same calls."""

    def work() -> None:
        try:
            flavors.warm_up()
            open_client(uri)
        except Exception:  # noqa: BLE001 - see docstring
            pass

    thread = threading.Thread(target=work, name="mlops-publish-warm-up", daemon=True)
    thread.start()
    return thread


def _must_beat_fast(uri: str, name: str, beat: Any, metrics: dict) -> dict | None:
    """The ``--must-beat`` check read without MLflow (a missing local registry holds no
    alias; the embedded registry through :mod:`.fastread`); None = ask the MLflow client."""
    from .client import sqlite_path
    from .fastread import Unavailable, alias_holder, connect

    db_file = sqlite_path(uri)
    if db_file is not None and not db_file.exists():
        return no_incumbent(beat, metrics)
    try:
        with connect(uri) as db:
            holder = alias_holder(db, name, beat.alias)
    except Unavailable:
        return None
    if holder is None:
        return no_incumbent(beat, metrics)
    version, incumbent = holder
    return check_must_beat(beat, metrics, incumbent, str(version))


def _save_native(record: dict[str, Any], tmp: Path, saver: ModelProcess) -> dict[str, Any]:
    """The kernel's Python loads the run's model and saves it natively (see module doc)."""
    example_path = record["example"]["artifact"] if record.get("example") else None
    saver.submit(
        {"op": "save", "model": record["model"]["artifact"], "out": str(tmp / "native"),
         "example": example_path}
    )  # fmt: skip
    return _answer(saver)


def _check_request(saved: flavors.SavedModel, record: dict[str, Any]) -> dict[str, Any]:
    example_path = record["example"]["artifact"] if record.get("example") else None
    return {"op": "check", "kind": saved.format, "file": str(saved.path / saved.native),
            "trusted": saved.trusted_types, "example": example_path}  # fmt: skip


def _answer(process: ModelProcess) -> dict[str, Any]:
    """The kernel's Python's answer to the last request; a failure refuses the publish."""
    answer = process.result()
    if not answer.get("ok"):
        raise DeployabilityFailed(
            f"deployability check failed, no version created: {answer.get('error')} "
            f"(with the kernel's Python {answer.get('executable') or process.python})"
        )
    return answer


def _publish_fast(record, tmp, native, checker, uri, experiment, name, description, aliases,
                  gates, metrics, promote=(None, {})):  # fmt: skip
    """The same publish without MLflow (see :mod:`.fastpublish`)."""
    started = time.perf_counter()
    start_ms = int(time.time() * 1000)
    packages = (record.get("environment") or {}).get("packages") or {}
    model_dir = tmp / "model"
    reqs, signature, conf = fastpublish.write_model_dir(native, model_dir, packages)
    saved = flavors.SavedModel(
        path=model_dir, flavor=flavors.SKLEARN, reason=native["reason"],
        trusted_types=list(native.get("trusted_types") or []), requirements=reqs,
        signature=signature, has_example=bool(record.get("example")), format="skops",
        native=flavors.SKOPS_ARTIFACT, sha256=native["sha256"],
        python=native.get("python", ""), executable=native.get("executable", ""),
    )  # fmt: skip
    checker.submit(_check_request(saved, record))
    experiment_id, artifacts = experiment
    ids = fastpublish.new_ids(artifacts)
    fastpublish.stamp(model_dir, conf, ids["run_id"], ids["model_id"], ids["model_artifacts"])
    git = record.get("git") or git_info(record.get("notebook"))
    run_dir = fastpublish.local_path(ids["run_artifacts"])
    model_target = fastpublish.local_path(ids["model_artifacts"])
    try:
        for file, folder in _run_files(record):
            (run_dir / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, run_dir / folder / Path(file).name)
        check = _answer(checker)
        fastpublish.copy_tree(model_dir, model_target)
        _pause("uploaded")
        created_at, created_by = utcnow(), who()
        tags = _version_tags(record, saved, metrics, check, git, created_by)

        def card(version: int) -> str:
            header = _card_header(name, version, created_at, created_by, record, git, saved, check)
            text = build_card(header, description, record)
            (model_target / "MODEL_CARD.md").write_text(text, encoding="utf-8")
            return text

        now = int(time.time() * 1000)
        run = {
            "id": ids["run_id"], "tags": run_tags(record, git, name),
            "user": who().split("@")[0], "start": start_ms, "end": now,
            "artifact_uri": ids["run_artifacts"], "metric_time": start_ms,
            "params": {str(k): _text(v)[:6000]
                       for k, v in (record.get("parameters") or {}).items()},
            "metrics": {str(k): float(v) for k, v in metrics.items() if _is_number(v)},
        }  # fmt: skip
        logged = {"id": ids["model_id"], "name": name, "location": ids["model_artifacts"],
                  "created": start_ms, "updated": now,
                  "tags": {"mlops.run_id": str(record["id"])}}  # fmt: skip
        _pause("registered")
        decide, extra = promote
        written = fastpublish.Writer(uri, experiment_id).write(
            run, logged, {"name": name, "tags": tags, "pipeline_run": str(record["id"])},
            list(aliases), card, decide, extra,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(run_dir.parent, ignore_errors=True)
        shutil.rmtree(model_target.parent, ignore_errors=True)
        raise
    decision = written.get("promotion")
    moved = [*aliases, decision["alias"]] if decision and decision["promoted"] else aliases
    return _promoted({
        "name": name,
        "version": written["version"],
        "uri": f"models:/{name}/{written['version']}",
        "aliases": list(moved),
        "run_id": str(record["id"]),
        "mlflow_run_id": ids["run_id"],
        "model_id": ids["model_id"],
        "flavor": saved.flavor,
        "registry_uri": uri,
        "checks": {"gates": gates, "deployability": check},
        "seconds": round(time.perf_counter() - started, 3),
    }, decision)  # fmt: skip


def _publish(record, tmp, native, processes, uri, name, description, aliases, gates, beat,
             metrics, promote=(None, {})):  # fmt: skip
    started = time.perf_counter()
    checker, warm = processes
    example_path = record["example"]["artifact"] if record.get("example") else None
    warm.join()  # MLflow is used below: never import it from two threads at once
    example, prediction = _load_quietly(example_path), _load_quietly(native.get("prediction"))
    env = record.get("environment") or {}
    packages = env.get("packages") or {}
    saved = flavors.build(native, tmp / "model", example, prediction, packages)
    checker.submit(_check_request(saved, record))
    _pause("checking")

    client = open_client(uri)
    if beat is not None:
        from .catalog import version_metrics

        holder = current_alias_version(client, name, beat.alias)
        if holder is None:
            gates.append(no_incumbent(beat, metrics))
        else:
            with mlflow_errors():
                incumbent = client.get_model_version(name, str(holder))
            gates.append(
                check_must_beat(beat, metrics, version_metrics(client, incumbent), str(holder))
            )
    git = record.get("git") or git_info(record.get("notebook"))
    mlflow_run, logged = _start_mlflow_run(client, uri, record, name, git, metrics)
    with _ended_on_failure(client, uri, mlflow_run, logged) as state:
        _log_run_files(client, mlflow_run, record)

        check = _answer(checker)
        _stamp_mlmodel(saved.path, mlflow_run, logged)
        with mlflow_errors():
            client.log_model_artifacts(logged.model_id, str(saved.path))
        _pause("uploaded")

        created_at, created_by = utcnow(), who()
        tags = _version_tags(record, saved, metrics, check, git, created_by)
        with registry_lock(uri), mlflow_errors():
            from mlflow.entities import LoggedModelOutput, LoggedModelStatus

            client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
            client.log_outputs(mlflow_run, [LoggedModelOutput(logged.model_id, step=0)])
            ensure_registered_model(client, name)
            mv = client.create_model_version(
                name,
                source=logged.artifact_location,
                run_id=mlflow_run,
                tags=tags,
                description=description or "",
                model_id=logged.model_id,
            )
            version = state["version"] = int(mv.version)
            _pause("registered")
            header = _card_header(name, version, created_at, created_by, record, git, saved, check)
            card = build_card(header, description, record)
            client.update_model_version(name, str(version), description=card)
            decide, extra = promote
            record_event(client, name, "publish", to_version=version, run_id=str(record["id"]),
                         **extra)  # fmt: skip
            decision = None
            if decide is not None:
                decision = decide(_holder(client, name, decide.holder_alias))
                if decision["promoted"]:
                    aliases = [*aliases, decision["alias"]]
            moves = []
            for alias in aliases:
                before = current_alias_version(client, name, alias)
                client.set_registered_model_alias(name, alias, str(version))
                moves.append(
                    record_event(
                        client,
                        name,
                        "alias-set",
                        alias=alias,
                        from_version=before,
                        to_version=version,
                        **extra,
                        **_why(decision, alias),
                    )
                )
            client.set_terminated(mlflow_run, "FINISHED")
    card_file = tmp / "MODEL_CARD.md"
    card_file.write_text(card, encoding="utf-8")
    with mlflow_errors():
        client.log_model_artifact(logged.model_id, str(card_file))
    return _promoted({
        "name": name,
        "version": version,
        "uri": f"models:/{name}/{version}",
        "aliases": aliases,
        "run_id": str(record["id"]),
        "mlflow_run_id": mlflow_run,
        "model_id": logged.model_id,
        "flavor": saved.flavor,
        "registry_uri": uri,
        "checks": {"gates": gates, "deployability": check},
        "seconds": round(time.perf_counter() - started, 3),
    }, decision)  # fmt: skip


def _why(decision: dict[str, Any] | None, alias: str) -> dict[str, str]:
    """The history's ``reason`` of a promotion's alias move."""
    if decision is None or decision["alias"] != alias:
        return {}
    return {"reason": f"promoted: {decision['reason']}"}


def _holder(client: Any, name: str, alias: str | None) -> tuple[int, dict] | None:
    """(version, metrics) of the version holding ``alias`` (None: none, or no alias)."""
    from .catalog import version_metrics

    if alias is None:
        return None
    holder = current_alias_version(client, name, alias)
    if holder is None:
        return None
    with mlflow_errors():
        incumbent = client.get_model_version(name, str(holder))
    return int(holder), version_metrics(client, incumbent)


def _load_quietly(path: str | None) -> Any:
    """An artifact for MLflow's signature and input example (None if this Python cannot
    read it: the check itself runs in the kernel's Python)."""
    from ..serialization import load

    if not path:
        return None
    try:
        return load(path)
    except Exception:  # noqa: BLE001 - e.g. a library the kernel has and we lack
        return None


def _start_mlflow_run(client, uri, record, name, git, metrics) -> tuple[str, Any]:
    """Create the MLflow run (params, metrics, tags) and an empty logged model."""
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    params = [Param(str(k), _text(v)[:6000]) for k, v in (record.get("parameters") or {}).items()]
    numeric = [Metric(str(k), float(v), now, 0) for k, v in metrics.items() if _is_number(v)]
    run_id = logged = None
    try:
        with registry_lock(uri), mlflow_errors():
            experiment = ensure_experiment(client, uri)
            tags = run_tags(record, git, name)
            run = client.create_run(experiment, tags=tags, run_name=tags["mlflow.runName"])
            run_id = run.info.run_id
            for i in range(0, max(len(params), len(numeric)), 100):
                client.log_batch(run_id, metrics=numeric[i : i + 100], params=params[i : i + 100])
            logged = client.create_logged_model(
                experiment,
                name=name,
                source_run_id=run_id,
                tags={"mlops.run_id": str(record["id"])},
            )
    except BaseException:
        if run_id is not None:  # never leave it RUNNING (outside the lock: flock is not reentrant)
            _abandon(client, uri, run_id, logged)
        raise
    return run_id, logged


def _log_run_files(client: Any, run_id: str, record: dict[str, Any]) -> None:
    """Executed step notebooks under ``steps/`` and the HTML report."""
    with mlflow_errors():
        for file, folder in _run_files(record):
            client.log_artifact(run_id, file, folder or None)


def _run_files(record: dict[str, Any]) -> list[tuple[str, str]]:
    """``(file, artifact folder)`` of the run's files kept with its MLflow run: the executed
    step notebooks (``steps``) and the HTML report (top level)."""
    files = [(step["notebook"], "steps") for step in (record.get("steps") or {}).values()
             if step.get("notebook") and Path(step["notebook"]).is_file()]  # fmt: skip
    report = record.get("report")
    if report and Path(report).is_file():
        files.append((report, ""))
    return files


@contextmanager
def _ended_on_failure(client: Any, uri: str, run_id: str, logged: Any) -> Iterator[dict]:
    """Whatever fails (or interrupts) the publish from here on, the MLflow run does not stay
    RUNNING: without a version it is abandoned; with one (``state["version"]``), only
    marked FAILED (the version still refers to it)."""
    state: dict[str, Any] = {"version": None}
    try:
        yield state
    except BaseException:
        _abandon(client, uri, run_id, logged, delete=state["version"] is None)
        raise


def _abandon(client: Any, uri: str, run_id: str, logged: Any, delete: bool = True) -> None:
    """A refused publish leaves no live run or model behind."""
    from mlflow.entities import LoggedModelStatus

    try:
        with registry_lock(uri):
            if delete and logged is not None:
                client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            client.set_terminated(run_id, "FAILED")
            if delete:
                client.delete_run(run_id)
    except Exception:  # noqa: BLE001 - best effort; the refusal is what matters
        pass


def _stamp_mlmodel(path: Path, run_id: str, logged: Any) -> None:
    """Record the run and logged-model ids in MLmodel, as ``log_model`` does."""
    import yaml

    file = path / "MLmodel"
    conf = yaml.safe_load(file.read_text())
    conf.update(run_id=run_id, model_id=logged.model_id, artifact_path=logged.artifact_location)
    file.write_text(yaml.safe_dump(conf, default_flow_style=False))


def _version_tags(record, saved, metrics, check, git, created_by) -> dict[str, str]:
    tags = {
        RUN_ID_TAG: str(record["id"]),
        "mlops.notebook": str(record.get("notebook") or ""),
        "mlops.notebook_sha256": str(record.get("notebook_sha256") or ""),
        "mlops.flavor": saved.flavor,
        "mlops.flavor_reason": saved.reason[:5000],
        METRICS_TAG: json.dumps({k: v for k, v in metrics.items() if _is_number(v)}),
        "mlops.deployability": "passed",
        "mlops.deployability_python": str(check.get("executable") or ""),
        "mlops.published_by": created_by,
        FORMAT_TAG: saved.format,  # load_model trusts these, not the artifact's own files
        NATIVE_TAG: saved.native,
        SHA256_TAG: saved.sha256,
    }
    if saved.flavor == flavors.SKLEARN:
        tags[TRUSTED_TYPES_TAG] = json.dumps(saved.trusted_types)
    if git:
        tags["mlops.git_commit"] = git["commit"]
        tags["mlops.git_dirty"] = str(git["dirty"]).lower()
    return tags


def _card_header(name, version, created_at, created_by, record, git, saved, check) -> dict:
    env = record.get("environment") or {}
    return {
        "name": name,
        "version": version,
        "created_at": created_at,
        "created_by": created_by,
        "source": {
            "notebook": record.get("notebook"),
            "sha256": record.get("notebook_sha256"),
        },
        "git": git,
        "run_id": str(record["id"]),
        "parameters": record.get("parameters") or {},
        "metrics": record.get("metrics") or {},
        "steps": list((record.get("steps") or {}).keys()),
        "data_digests": {
            step: info["outputs"]
            for step, info in (record.get("steps") or {}).items()
            if info.get("outputs")
        },
        "environment": {
            "python": env.get("python"),
            "packages": key_packages(env.get("packages"), saved.requirements),
        },
        "flavor": saved.flavor,
        "skops_trusted_types": saved.trusted_types if saved.flavor == flavors.SKLEARN else None,
        "requirements": saved.requirements,
        "signature": saved.signature,
        "deployability": {
            k: check.get(k)
            for k in (
                "ok",
                "python",
                "executable",
                "fresh_process",
                "loaded",
                "predicted",
                "rows_in",
                "rows_out",
                "load_seconds",
                "predict_seconds",
                "note",
            )
            if k in check
        },  # fmt: skip
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
