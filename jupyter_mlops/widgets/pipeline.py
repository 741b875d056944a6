"""``PipelineWidget``: a notebook's pipeline, its parameters form, Run with live per-step
status, the run's metrics and Publish, as one ipywidget.

Everything goes through :class:`~jupyter_mlops.service.MlopsService`, the layer the CLI and
the REST API call: ``pipeline_view`` (steps, parameters schema, publish settings),
``queue_run`` + a run process (as the server starts runs; see :mod:`.follow`), the store's
event log for progress, ``publish`` in a child process (see :mod:`.publish`). The kernel is
never blocked: button handlers only start threads, and those only wait and update traits.
"""

from __future__ import annotations

import os
import threading
from html import escape
from typing import Any

import ipywidgets as w

from ..errors import InvalidInput, MlopsError
from . import render
from .follow import RunFollower
from .form import ParametersForm
from .publish import Publisher
from .steps import StepRow, step_detail

OUTPUT_LINES = 40  # lines of the steps' output kept in view


class PipelineWidget(w.VBox):
    """The run/publish flow of notebook ``notebook`` (a path; relative to the current
    folder, which in a kernel is the notebook's folder). The notebook is read as saved.

    ``store``/``registry_uri``: as ``--store``/``--registry-uri`` (default: found from the
    notebook's folder, as the CLI does); ``jobs``: parallel steps (default: the CPU count).

    Its parts are attributes: ``steps`` (step name -> :class:`StepRow`, whose ``status``
    Label shows the step's state), ``form`` (:class:`ParametersForm`, ``form.controls``),
    ``run_button``, ``cancel_button``, ``run_status`` (Label: the run's status),
    ``metrics``, ``publish_button``, ``publish_result``, ``messages``; ``run_id`` and
    ``record`` (the finished run's record) after a run.
    """

    def __init__(
        self,
        notebook: str | os.PathLike[str],
        *,
        store: str | os.PathLike[str] | None = None,
        registry_uri: str | None = None,
        jobs: int | None = None,
        poll_interval: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.add_class("mlops-widget")
        self.shown_path = os.fspath(notebook)
        # absolute now: a later os.chdir in the kernel does not change which notebook it is
        self.notebook = os.path.abspath(os.path.expanduser(self.shown_path))
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval}")
        self.jobs = jobs
        self.poll_interval = poll_interval
        self.run_id: str | None = None
        self.record: dict[str, Any] | None = None
        self.steps: dict[str, StepRow] = {}
        self.form: ParametersForm | None = None
        self._service: Any = None
        self._active = False  # a run started here has not ended yet
        self._follower: RunFollower | None = None
        self._publisher: Publisher | None = None
        self._output: list[str] = []
        self._lock = threading.RLock()
        self._closed = False
        self._build()
        try:
            from ..service import MlopsService

            self._service = MlopsService.create(store=store, registry_uri=registry_uri)
        except MlopsError as exc:
            self.messages.value = render.messages(exc.messages)
            self.run_button.disabled = self.reload_button.disabled = True
            return
        self.reload()
        if self.form is not None:
            self._attach_running()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        def button(text: str, icon: str, css: str, **kw: Any) -> w.Button:
            made = w.Button(description=text, icon=icon, **kw)
            made.add_class(css)
            return made

        self.header = w.HTML(f"<b>MLOps pipeline</b> <code>{escape(self.shown_path)}</code>")
        self.messages = w.HTML()
        self.messages.add_class("mlops-messages")
        self.steps_box = w.VBox()
        self.form_box = w.VBox()
        self.run_button = button("Run", "play", "mlops-run-button", button_style="primary")
        self.cancel_button = button("Cancel", "stop", "mlops-cancel-button", disabled=True)
        self.reload_button = button("Reload", "refresh", "mlops-reload-button",
                                    tooltip="compile the notebook again (as saved)")  # fmt: skip
        self.use_cache = w.Checkbox(value=True, description="use the cache", indent=False)
        self.run_status = w.Label("")
        self.run_status.add_class("mlops-run-status")
        self.run_info = w.HTML()
        self.run_extra = w.HTML()
        self.output = w.HTML()
        self.output.add_class("mlops-output")
        self.metrics = w.HTML()
        self.metrics.add_class("mlops-metrics")
        self.publish_button = button("Publish", "upload", "mlops-publish-button", disabled=True)
        self.publish_settings = w.HTML()
        self.publish_result = w.HTML()
        self.publish_result.add_class("mlops-publish-result")
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)
        self.reload_button.on_click(lambda _b: self.reload())
        self.publish_button.on_click(self._on_publish)
        self.children = [
            self.header,
            self.messages,
            w.HTML("<b>Steps</b>"),
            self.steps_box,
            w.HTML("<b>Parameters</b>"),
            self.form_box,
            w.HBox([self.run_button, self.cancel_button, self.use_cache, self.reload_button]),
            w.HBox([self.run_info, self.run_status, self.run_extra]),
            self.output,
            self.metrics,
            w.HBox([self.publish_button, self.publish_settings]),
            self.publish_result,
        ]

    def reload(self) -> None:
        """Compile the notebook again (as saved): steps, parameters (values set in the form
        are kept for parameters of the same name and type), publish settings."""
        try:
            view = self._service.pipeline_view(self.notebook)
        except MlopsError as exc:
            self.messages.value = render.messages(exc.messages)
            self.run_button.disabled = True
            return
        self.messages.value = render.messages(
            [e["message"] for e in view["errors"]], [x["message"] for x in view["warnings"]]
        )
        pipeline = view["pipeline"]
        self._show_steps((pipeline or {}).get("steps") or [])
        form = ParametersForm(view["parameters_schema"])
        if self.form is not None:
            form.keep_values_of(self.form)
            self.form.close()
        self.form = form
        self.form_box.children = [form.box]
        self.publish_settings.value = render.publish_settings(view["publish_defaults"])
        self.run_button.disabled = pipeline is None or self._running()

    def _show_steps(self, steps: list[dict[str, Any]]) -> None:
        for row in self.steps.values():
            row.close()
        self.steps = {s["name"]: StepRow(s) for s in steps}
        self.steps_box.children = [row.box for row in self.steps.values()]

    def _running(self) -> bool:
        return self._active

    # -- run ---------------------------------------------------------------------------------
    def _on_run(self, _button: Any = None) -> None:
        """Start a run with the form's values; returns at once (the run goes on in a process
        of its own, followed from a thread)."""
        with self._lock:
            if self._closed or self._running() or self.form is None:
                return
            try:
                values = self.form.values()
            except InvalidInput as exc:
                self.messages.value = render.messages(exc.messages)
                return
            self._start({"path": self.notebook, "parameters": values,
                         "use_cache": self.use_cache.value, "jobs": self.jobs})  # fmt: skip

    def _start(self, request: dict[str, Any] | None, attach: Any = None) -> None:
        """Reset the run's parts and start following a new run (or ``attach``: one going)."""
        self.messages.value = ""
        self.run_id, self.record, self._output = None, None, []
        for row in self.steps.values():
            row.show("")
        for part in (self.run_extra, self.output, self.metrics, self.publish_result):
            part.value = ""
        self.run_status.value = ""
        self.run_info.value = "starting…" if attach is None else ""
        self.run_button.disabled = self.publish_button.disabled = True
        self.reload_button.disabled = True  # the rows show the run's states until it ends
        self.cancel_button.disabled = False
        self._active = True
        self._follower = RunFollower(
            self._service, request, attach=attach, on_start=self._started,
            on_event=self._event, on_end=self._ended, on_error=self._failed,
            interval=self.poll_interval,
        )  # fmt: skip
        self._follower.start()

    def _attach_running(self) -> None:
        """Follow this notebook's newest run if it is still going (the cell was executed
        again, the kernel restarted, the run was started by the panel or the CLI)."""
        try:
            newest = self._service.runs(self.notebook, limit=1)
            root = self._service.store_for(self.notebook)
        except MlopsError:
            return
        if newest and newest[0]["status"] in ("queued", "running"):
            self._start(None, attach=(newest[0]["id"], root))

    def _on_cancel(self, _button: Any = None) -> None:
        if self._follower is not None:
            self.cancel_button.disabled = True
            self.run_extra.value = "cancelling…"
            self._follower.cancel()

    def _started(self, record: dict[str, Any]) -> None:
        """The run is queued (its record has its steps, which the notebook decides now)."""
        if self._closed:
            return
        self.run_id = record["id"]
        if list(record["steps"]) != list(self.steps):  # the notebook changed since shown
            self.reload()
        for row in self.steps.values():
            row.show("queued")

    def _event(self, event: dict[str, Any]) -> None:
        if self._closed:
            return
        kind = event["kind"]
        if kind == "run":
            self.run_info.value = render.run_head(self.run_id, event["status"])
            self.run_status.value = event["status"]
            self.run_extra.value = render.run_tail(event)
        elif kind == "step" and event.get("step") in self.steps:
            status = "queued" if event["status"] == "pending" else event["status"]
            self.steps[event["step"]].show(status, step_detail(event))
        elif kind == "output":
            lines = (event.get("text") or "").splitlines()
            self._output = (self._output + [f"[{event.get('step')}] {x}" for x in lines])[
                -OUTPUT_LINES:
            ]
            self.output.value = (
                '<pre style="max-height:8em;overflow:auto;margin:2px 0;font-size:90%">'
                + escape("\n".join(self._output)) + "</pre>"
            )  # fmt: skip

    def _ended(self, record: dict[str, Any]) -> None:
        """The run's process has exited: the final record (errors, metrics, model)."""
        if self._closed:
            return
        self.record, self._active = record, False
        for name, info in record["steps"].items():
            if name in self.steps:
                self.steps[name].show(info["status"], step_detail(info))
        self.run_info.value = render.run_head(record["id"], record["status"])
        self.run_status.value = record["status"]
        self.run_extra.value = render.run_tail(record)
        self.metrics.value = render.metrics(record.get("metrics") or {})
        self.cancel_button.disabled = True
        self.run_button.disabled = self.reload_button.disabled = False
        can_publish = record["status"] == "succeeded" and bool(record.get("model"))
        self.publish_button.disabled = not can_publish
        if record["status"] == "succeeded" and not record.get("model"):
            self.publish_result.value = (
                "<i>No model to publish: tag the cell that makes it <code>model:VAR</code>.</i>"
            )

    def _failed(self, messages: list[str]) -> None:
        """The run could not be queued (invalid parameters, a notebook that does not compile)
        or followed."""
        if self._closed:
            return
        self._active = False
        self.messages.value = render.messages(messages)
        self.run_info.value = ""
        self.cancel_button.disabled = True
        self.run_button.disabled = self.reload_button.disabled = False

    # -- publish -----------------------------------------------------------------------------
    def _on_publish(self, _button: Any = None) -> None:
        """Publish the run just finished with the notebook's saved publish settings (read
        again now); returns at once."""
        with self._lock:
            record = self.record
            busy = self._publisher is not None and self._publisher.alive
            if self._closed or busy or not record or record["status"] != "succeeded":
                return
            self.publish_button.disabled = True
            try:
                options = self._service.publish_options(self.notebook)
            except MlopsError as exc:  # saved settings now invalid: the publish would refuse
                self.publish_result.value = render.refused(exc.messages, {})
                self.publish_button.disabled = False
                return
            self.publish_settings.value = render.publish_settings(options)
            self.publish_result.value = "publishing… (gates, then the deployability check)"
            assert self._follower is not None and self._follower.store is not None
            self._publisher = Publisher(
                self._follower.store, self._service.explicit_registry, record["id"],
                on_done=self._published, on_refused=self._refused,
            )  # fmt: skip
            self._publisher.start()

    def _published(self, result: dict[str, Any]) -> None:
        if self._closed:
            return
        self.publish_result.value = render.published(result)
        self.publish_button.disabled = False

    def _refused(self, messages: list[str], checks: dict[str, Any]) -> None:
        if self._closed:
            return
        self.publish_result.value = render.refused(messages, checks)
        self.publish_button.disabled = False

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following (a run in progress goes on in its own process; a publish in
        progress finishes in its own) and close every part of the widget."""
        with self._lock:
            self._closed = True
            follower = self._follower
        if follower is not None:
            follower.stop()
        for row in self.steps.values():
            row.close()
        if self.form is not None:
            self.form.close()
        _close_tree(self)
        super().close()


def _close_tree(widget: w.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
        child.close()
