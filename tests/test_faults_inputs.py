"""Fault campaign findings about bad input: each is one `error:` line with exit 2 (before any
run is created) or a warning, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from runner_fixtures import cli_env, code, markdown, mlops, write_notebook


@pytest.fixture
def params_nb(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "params.ipynb",
        [
            code(
                "conf = {'a': [1]}\nitems = [1]\nlabel = 'x'\nn = 1\nratio = 0.5\nanything = None",
                "parameters",
            ),
            code("total = n + len(items) + len(conf) + ratio + len(label)", "step:a"),
        ],
    )


def _refused(proc: subprocess.CompletedProcess, store: Path, *texts: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines and all(line.startswith("error: ") for line in lines), lines
    for text in texts:
        assert text in proc.stderr, (text, proc.stderr)
    runs = store / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run was created"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("conf: {a: [2026-01-01]}\n", "parameter 'conf': a value of type date"),
        ("items: &a [*a]\n", "parameter 'items': the value contains itself"),
        ("conf: &a [*a]\n", "parameter 'conf' expects dict, got 'list'"),
        ("conf: {1: 2, 2.5: x, null: y}\n", "parameter 'conf': dict keys must be strings, got 1"),
        ("anything: {when: 2026-01-01T10:00:00}\n", "parameter 'anything': a value of type"),
        ("ratio: " + "1" * 5000 + "\n", "cannot parse parameters: Exceeds the limit"),
        ("n: [1\n", "cannot parse parameters"),
    ],
)
def test_yaml_parameter_files(params_nb: Path, tmp_path: Path, yaml_text: str, message: str):
    """B6: dates, anchor cycles, mixed key types: exit 2 naming the parameter, no run."""
    file = tmp_path / "p.yaml"
    file.write_text(yaml_text)
    store = tmp_path / "s"
    proc = mlops("run", str(params_nb), "-f", str(file), "--store", str(store))
    _refused(proc, store, message)


def test_parameter_file_that_is_not_text(params_nb: Path, tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_bytes(b"n: \xff\xfe\n")
    store = tmp_path / "s"
    proc = mlops("run", str(params_nb), "-f", str(file), "--store", str(store))
    _refused(proc, store, "cannot read parameters: not UTF-8 text")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "n", "1" + "0" * 5000], "parameter 'n': an integer with more digits than"),
        (["-p", "ratio", "1" + "0" * 400], None),  # a float: 1e400 is inf, accepted
        (["-p", "items", "[" * 100_000], "parameter 'items' expects list"),
        (["-p", "items", "[" * 150 + "]" * 150], "lists/dicts nested more than 100 deep"),
        (["-p", "conf", '{"a": "\\ud800"}'], "parameter 'conf': a string is not valid UTF-8"),
        (["--step-timeout", "nan"], "--step-timeout must be a number of seconds > 0"),
        (["--step-timeout", "inf"], "--step-timeout must be a number of seconds > 0"),
        (["--step-timeout", "1e300"], "and at most 9223372036, got 1e+300"),
        (["--step-timeout", "0"], "--step-timeout must be a number of seconds > 0"),
        (["--step-timeout", "-1"], "--step-timeout must be a number of seconds > 0"),
    ],
)
def test_bad_values_and_options(params_nb: Path, tmp_path: Path, args, message) -> None:
    """Huge ints, deep or invalid JSON, B10 timeouts: exit 2 before any run exists."""
    store = tmp_path / "s"
    if message is None:
        args = [*args, "--step-timeout", "nan"]  # accepted value, then stop before running
        message = "--step-timeout"
    proc = mlops("run", str(params_nb), *args, "--store", str(store))
    _refused(proc, store, message)


def test_int_file_values_beyond_the_digit_limit(params_nb: Path, tmp_path: Path) -> None:
    """Via the Python API a huge int is refused up front too (the CLI cannot even read it)."""
    from jupyter_mlops import run_pipeline
    from jupyter_mlops.errors import InvalidInput

    store = tmp_path / "s"
    with pytest.raises(InvalidInput, match="parameter 'n': an integer with more digits"):
        run_pipeline(params_nb, {"n": 10**5000}, store=store)
    with pytest.raises(InvalidInput, match="parameter 'anything': an integer with more"):
        run_pipeline(params_nb, {"anything": [1, {"x": 10**5000}]}, store=store)
    with pytest.raises(InvalidInput, match="parameter 'ratio' expects float, got an integer"):
        run_pipeline(params_nb, {"ratio": 10**400}, store=store)
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())


def test_invalid_utf8_on_the_command_line(params_nb: Path, tmp_path: Path) -> None:
    """`-p label <invalid UTF-8>` is rejected at once, not in a generated cell later."""
    store = tmp_path / "s"
    argv = [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(params_nb)]
    argv += ["-p", "label", b"ok\xff\xfe", "--store", str(store)]
    proc = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
    _refused(proc, store, "parameter 'label': the value is not valid UTF-8 text (byte 0xff")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ("a = 1\na = 'x'", "cell 1 (parameters), line 2: parameter 'a' is assigned twice"),
        ("conf = {1: 'a'}", "parameter 'conf': dict keys must be strings"),
        ("_mlops_x = 1", "parameter '_mlops_x': names starting with _mlops are reserved"),
    ],
)
def test_parameters_cell_problems(tmp_path: Path, parameters: str, message: str) -> None:
    nb = write_notebook(
        tmp_path / "nb.ipynb", [code(parameters, "parameters"), code("y = 1", "step:a")]
    )
    store = tmp_path / "s"
    _refused(mlops("compile", str(nb)), store, message)
    _refused(mlops("run", str(nb), "--store", str(store)), store, message)


def test_a_step_tag_on_a_markdown_cell_is_a_warning(tmp_path: Path) -> None:
    """Decision: warn (and ignore it) rather than guess which code cell it was meant for."""
    md = markdown("## Prepare")
    md.metadata["tags"] = ["step:prep"]
    nb = write_notebook(tmp_path / "nb.ipynb", [md, code("x = 1", "step:a"), code("y = x")])
    proc = mlops("compile", str(nb))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        "warning: nb.ipynb: cell 1: tag 'step:prep' on a markdown cell is ignored: tags apply "
        "to code cells only (put it on the code cell it is meant for)"
    )
    assert "  a  (cells 2, 3)" in proc.stdout


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("x = " + "+".join(["1"] * 50_000), ""),
        ("x = " + "-" * 100_000 + "1", ""),
        ("w = 1\nx = " + "+".join(["w"] * 900), ", line 2"),  # Python runs it; too deep for us
    ],
)
def test_extreme_expressions(tmp_path: Path, source: str, line: str) -> None:
    """B9: a RecursionError/MemoryError from the parser is one located error, exit 2."""
    nb = write_notebook(tmp_path / "deep.ipynb", [code(source, "step:a")])
    store = tmp_path / "s"
    message = (
        f"error: deep.ipynb: cell 1 (step 'a'){line}: expression too deeply nested "
        "(more than 200 levels): split it into smaller statements"
    )
    _refused(mlops("compile", str(nb)), store, message)
    _refused(mlops("run", str(nb), "--store", str(store)), store, message)


def test_runs_into_a_closed_pipe(tmp_path: Path) -> None:
    """`jupyter mlops runs | head`: the reader going away is not a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "runs", "--store", str(tmp_path / "s")],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command prints anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_json_output_is_strict(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "inf.ipynb", [code("big = 1e999", "parameters"), code("x = big", "step:a")]
    )
    proc = mlops("compile", str(nb), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout, parse_constant=lambda c: 1 / 0)["parameters"]["big"] == {
        "default": "Infinity",
        "type": "float",
    }
