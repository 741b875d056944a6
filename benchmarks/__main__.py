"""Every benchmark, one table: ``python -m benchmarks`` (``make bench``).

Runs ``bench_compile``, ``bench_run``, ``bench_scale`` (papermill on the whole notebook, Ploomber when installed),
``bench_publish``, ``bench_verify`` (verify vs papermill + an isolated run) and ``bench_cli`` (plain MLflow ``log_model`` + ``register_model`` and
``MlflowClient`` scripts) and ``bench_server``, all in this one invocation on this machine, and
prints one table of our figures next to the peers measured in the same run, with ratios. The
table, the date, a description of the machine and its load average go to ``docs/benchmarks.md``
(``--out``; ``--no-write`` only prints). Each benchmark's own lines are kept below the table.

The default is the quick mode (each figure measured once, a 0.25 GB array, chains of 10 and
50 steps, the server's start time skipped): a few minutes on a 2-core machine. ``--full`` measures each figure 3 times
(medians), with a 1 GB array, a 200-step chain and the server's start cost. ``--only run,publish`` runs some.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages have bytecode; measure with it
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests")]

AREAS = ("compile", "run", "scale", "publish", "cli", "server", "verify")
os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")  # no telemetry calls from Ploomber
NOTES: list[str] = []  # peers that could not be measured here


@dataclass
class Row:
    area: str
    what: str
    ours: float  # seconds (or GB/s when ``unit`` says so)
    peer: str = ""
    theirs: float | None = None
    target: str = ""
    unit: str = "s"

    def cells(self) -> list[str]:
        def shown(value: float | None) -> str:
            if value is None:
                return "—"
            if self.unit == "GB/s":
                return f"{value:.2f} GB/s"
            return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"

        ratio = f"{self.ours / self.theirs:.2f}×" if self.theirs else "—"
        return [self.area, self.what, shown(self.ours), self.peer or "—", shown(self.theirs),
                ratio, self.target or "—"]  # fmt: skip


HEADER = ["area", "measurement", "jupyter-mlops", "peer (same run)", "peer", "ratio", "target"]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def captured(log: list[str], title: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its printed lines kept in ``log`` (and shown live)."""
    buffer = io.StringIO()
    print(f"== {title}", flush=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        result = fn(*args, **kwargs)
    text = buffer.getvalue().rstrip()
    print(text, flush=True)
    log.append(f"### {title} ({time.perf_counter() - start:.0f} s)\n\n```\n{text}\n```")
    return result


def bench_compile(repeat: int, log: list[str]) -> list[Row]:
    import bench_compile

    found = captured(log, "bench_compile.py", bench_compile.main, ["--repeat", str(max(repeat, 3))])
    what = f"compile a {found['cells']:.0f}-cell, {found['steps']:.0f}-step notebook"
    return [
        Row(
            "compile",
            f"CLI: {what} (Python's own start: {found['python'] * 1000:.0f} ms)",
            found["cli"],
        ),
        Row("compile", "API: compile_notebook", found["api"]),
        Row("compile", "REST handler after a one-cell edit", found["handler_edit"]),
    ]


def bench_run(repeat: int, gigabytes: float, log: list[str]) -> list[Row]:
    import bench_run

    base = os.environ.get("BENCH_TMP", "/work" if os.path.isdir("/work") else None)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        found = captured(log, "bench_run.py: pipeline", bench_run.bench_pipeline, Path(tmp), repeat)
        speeds = captured(log, "bench_run.py: large array", bench_run.bench_large, Path(tmp),
                          gigabytes)  # fmt: skip
    pm = found["papermill"]
    peer = "papermill, whole notebook, one kernel"
    rows = [
        Row("run", "4-step notebook, fresh run", found["fresh"], peer, pm, "≤ 1.25×"),
        Row("run", "re-run, nothing changed (all cached)", found["noop"], peer, pm, "≤ 0.5 s"),
        Row("run", "re-run after editing the last step", found["edit_last"], peer, pm, "≤ 1.0×"),
        Row("run", "fresh run, --isolate (a kernel per step)", found["isolate"], peer, pm),
    ]
    if "ploomber_fresh" in found:
        for key, what in (("fresh", "fresh run"), ("noop", "re-run, nothing changed"),
                          ("edit_last", "re-run after editing the last step")):  # fmt: skip
            rows.append(Row("run", f"{what} vs Ploomber", found[key], "Ploomber build",
                            found[f"ploomber_{key}"]))  # fmt: skip
    else:
        NOTES.append("Ploomber (not installed on this machine; `PLOOMBER=/path/to/ploomber` "
                     "compares with one in another virtualenv)")  # fmt: skip
    for label, speed in speeds.items():
        rows.append(Row("run", f"pass a {gigabytes:g} GB numpy array, {label}", speed,
                        target="≥ 1 GB/s", unit="GB/s"))  # fmt: skip
    return rows


def bench_verify(repeat: int, log: list[str]) -> list[Row]:
    import bench_verify

    found = captured(log, "bench_verify.py", bench_verify.main, ["--repeat", str(repeat)])
    return [Row("verify", "`jupyter mlops verify` (notebook and isolated pipeline at once)",
                found["verify"], "papermill + `run --isolate --no-cache`", found["both"],
                "≤ 1.1×")]  # fmt: skip


def bench_scale(repeat: int, sizes: list[int], log: list[str]) -> list[Row]:
    import bench_scale

    def run() -> list[dict]:
        base = os.environ.get("BENCH_TMP", "/work" if os.path.isdir("/work") else None)
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=base) as tmp:
            rows = bench_scale.measure(Path(tmp), sizes, repeat)
        for row in rows:
            theirs = f"  papermill {row['papermill']:.2f} s" if "papermill" in row else ""
            print(f"{row['name']:<34} {row['ours']:.3f} s{theirs}")
        mine, pm = bench_scale.per_step(rows)
        print(f"per extra step: jupyter mlops {mine * 1000:.0f} ms, papermill {pm * 1000:.0f} ms")
        return rows

    found = captured(log, "bench_scale.py", run)
    peer = "papermill, one kernel"
    rows = [Row("scale", f"{r['name']} (fresh run)" if "papermill" in r else r["name"], r["ours"],
                peer if "papermill" in r else "", r.get("papermill"))
            for r in found]  # fmt: skip
    mine, pm = bench_scale.per_step(found)
    rows.append(Row("scale", "cost of one more step (slope over the chains)", mine, peer, pm))
    return rows


def bench_publish(repeat: int, log: list[str]) -> list[Row]:
    import statistics

    import bench_publish

    ours, plain = captured(log, "bench_publish.py", _publish_lines, bench_publish, repeat)
    peer = "MLflow log_model + register_model"
    med = statistics.median
    return [Row("publish", "publish (incl. fresh-process load + predict check)", med(ours),
                peer, med(plain), "≤ 2.5 s")]  # fmt: skip


def _publish_lines(module, repeat: int) -> tuple[list[float], list[float]]:
    ours, plain = module.measure(repeat)
    print(f"jupyter_mlops.publish: {[round(x, 2) for x in ours]} s")
    print(f"mlflow log_model + register_model: {[round(x, 2) for x in plain]} s")
    return ours, plain


def bench_cli(repeat: int, log: list[str]) -> list[Row]:
    import bench_cli

    def run() -> list:
        rows = bench_cli.measure(repeat)
        for name, a, b, target in rows:
            print(f"{name:<14}{a:>8.2f} s  plain MLflow {b:>6.2f} s  target {target:.1f} s")
        return rows

    found = captured(log, "bench_cli.py", run)
    labels = {
        "refused gate": "`jupyter mlops publish`, refused by a gate",
        "publish via MLflow": "`jupyter mlops publish` through MLflow's client "
        "(`JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW=1`)",
    }
    return [
        Row("cli", labels.get(name, f"`jupyter mlops {name}`"), a, "smallest plain-MLflow script",
            b, f"≤ {target:g} s" if target else "")
        for name, a, b, target in found
    ]  # fmt: skip


def bench_server(full: bool, log: list[str]) -> list[Row]:
    args = [sys.executable, str(REPO / "benchmarks" / "bench_server.py"), "--runs", "1"]
    if not full:
        args.append("--skip-start")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")])))  # fmt: skip

    def run() -> str:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
        print(done.stdout.rstrip())
        if done.returncode:
            print(f"(exit {done.returncode}) {done.stderr[-1500:]}")
        return done.stdout

    text = captured(log, "bench_server.py", run)
    rows = []
    wanted = (  # (line prefix, figure, measurement, target)
        ("GET /mlops/api/info (idle)", "p50", "REST `GET info`, p50", "≤ 20 ms"),
        (
            "GET /mlops/api/runs (1,000; 50/page)",
            "p50",
            "REST `GET runs`, 1,000 runs, p50",
            "≤ 50 ms",
        ),
        ("event latency", "p50", "event latency, step end → WebSocket client, p50", "≤ 300 ms"),
        (
            "loop lag during a publish",
            "p99",
            "event-loop lag during a REST publish, p99",
            "≤ 50 ms",
        ),
        ("loop lag during", "p99", "event-loop lag during a run, p99", "≤ 50 ms"),
        ("import jupyter_mlops.extension", "median", "extension import", ""),
        ("extension load cost", "median", "`jupyter server` start: extension's cost", ""),
    )
    for line in text.splitlines():
        for label, figure, what, target in wanted:
            if line.startswith(label):
                value = _ms_after(line[len(label) :], figure)
                if value is not None:
                    rows.append(Row("server", what, value, target=target))
                break
    return rows


def _ms_after(text: str, figure: str) -> float | None:
    """Seconds of the ``figure`` (``p50``, ``p99``, ``median``) in a bench_server line."""
    import re

    match = re.search(rf"{figure}\s+(-?[\d.]+)\s*ms", text)
    return float(match.group(1)) / 1000 if match else None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    from importlib.metadata import version

    packages = ", ".join(f"{name} {version(name)}" for name in
                         ("mlflow", "papermill", "scikit-learn", "pandas", "jupyter_server"))  # fmt: skip
    ploomber = _ploomber_version()
    return (f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {packages}{ploomber}")  # fmt: skip


def _ploomber_version() -> str:
    """``; Ploomber 0.23 (path)`` when the run benchmark can find Ploomber, else ``""``."""
    import shutil

    path = os.environ.get("PLOOMBER") or shutil.which(
        "ploomber", path=str(Path(sys.executable).parent)
    )
    path = path or shutil.which("ploomber")
    if not path:
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120)
        return f"; {done.stdout.strip().replace('ploomber, version', 'Ploomber')} ({path})"
    return f"; Ploomber ({path})"


def busy(before: str) -> str:
    """A warning when other work shared the machine (load above the CPU count)."""
    if float(before.split(" / ")[0]) <= (os.cpu_count() or 1):
        return ""
    return (
        " Other jobs shared the machine during this run (load above its CPU count), so absolute "
        "times are inflated; a peer and our figure on one row were measured back to back, "
        "under the same conditions."
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--full", action="store_true", help="3 repeats, 1 GB array, server start")
    parser.add_argument("--repeat", type=int, help="measurements per figure (median)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(AREAS)}")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.full else 1)
    only = set(args.only.split(",")) if args.only else set(AREAS)
    if unknown := only - set(AREAS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {AREAS}")
    started, load_before = time.perf_counter(), load()
    log: list[str] = []
    rows: list[Row] = []
    if "compile" in only:
        rows += bench_compile(repeat, log)
    if "run" in only:
        rows += bench_run(repeat, 1.0 if args.full else 0.25, log)
    if "scale" in only:
        rows += bench_scale(repeat, [10, 50, 200] if args.full else [10, 50], log)
    if "publish" in only:
        rows += bench_publish(repeat, log)
    if "cli" in only:
        rows += bench_cli(repeat, log)
    if "server" in only:
        rows += bench_server(args.full, log)
    if "verify" in only:
        rows += bench_verify(repeat, log)
    took = time.perf_counter() - started
    shown = table(rows)
    mode = "full (medians of 3)" if args.full else f"quick ({repeat} measurement per figure)"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        "# Benchmarks",
        "",
        f"Generated by `python -m benchmarks{' --full' if args.full else ''}` (`make bench`) "
        f"on {when}, in {took:.0f} s; mode: {mode}. Every peer figure was measured in the same "
        "invocation on the same machine; a ratio is jupyter-mlops ÷ peer (below 1: we are "
        "faster). Wall-clock times of whole processes unless the row says otherwise.",
        "",
        f"Machine: {machine()}.",
        f"Load average (1/5/15 min) before: {load_before}; after: {load()}.{busy(load_before)}",
        "",
        shown,
        "",
        *(f"Not measured: {what}." for what in NOTES),
        "",
        "## Each benchmark's own output",
        "",
        "\n\n".join(log),
        "",
    ])  # fmt: skip
    print()
    print(shown)
    print(f"\n{len(rows)} figures in {took:.0f} s; load average {load()}")
    if not args.no_write:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
