"""compile_notebook pauses cyclic GC while it runs (speed) and always restores it, also
when it fails and when threads compile at once."""

from __future__ import annotations

import gc
import threading

import pytest

from jupyter_mlops.compiler import CompileError, compile_notebook


def _nb(source: str = "x = 1") -> dict:
    return {"cells": [{"cell_type": "code", "metadata": {"tags": ["step:a"]}, "source": source,
                       "outputs": [], "execution_count": None}],
            "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


def test_gc_is_paused_during_and_restored_after():
    assert gc.isenabled()
    compile_notebook(_nb())
    assert gc.isenabled()
    with pytest.raises(CompileError):
        compile_notebook(_nb("x = ("))
    assert gc.isenabled()
    gc.disable()
    try:
        compile_notebook(_nb())
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_threads_compiling_at_once_leave_gc_on():
    errors = []

    def work():
        try:
            for _ in range(20):
                compile_notebook(_nb("\n".join(f"v{i} = {i}" for i in range(50))))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and gc.isenabled()
