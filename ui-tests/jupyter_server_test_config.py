"""Jupyter server configuration for the jupyter-mlops Galata UI tests.

Not for production: Galata's helper disables the token and XSRF checks.

Environment:
- ``MLOPS_UI_PORT``: the port to serve on (default 8888; must match playwright.config.js).
- ``MLOPS_UI_DISABLE_SERVER_EXTENSION=1``: disable the jupyter_mlops server extension
  (negative control: the UI tests must then fail).
"""

import atexit
import importlib.util
import os
import shutil
import socket
from pathlib import Path
from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 - provided by the traitlets config loader

configure_jupyter_server(c)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("MLOPS_UI_PORT", "8888"))
c.ServerApp.allow_root = True
c.ServerApp.open_browser = False

# Keep runs, artifacts and the registry of the tests out of the repository.
_store_root = Path(mkdtemp(prefix="jupyter-mlops-ui-tests-"))
atexit.register(shutil.rmtree, _store_root, ignore_errors=True)
c.MlopsExtension.store = str(_store_root / "store")

# Runs stay on this machine; a Dask cluster is offered per run (executor.spec.ts). Nothing
# listens at its address: a run sent there fails at once with the run-level error.
if importlib.util.find_spec("distributed") is not None:
    with socket.socket() as _s:
        _s.bind(("127.0.0.1", 0))
        _port = _s.getsockname()[1]
    c.MlopsExtension.executor = "local"
    c.MlopsExtension.dask_scheduler = f"tcp://127.0.0.1:{_port}"
    c.MlopsExtension.artifacts = str(_store_root / "shared")
    os.environ["JUPYTER_MLOPS_DASK_CONNECT_TIMEOUT"] = "2"  # the run processes inherit it

if os.environ.get("MLOPS_UI_DISABLE_SERVER_EXTENSION") == "1":
    c.ServerApp.jpserver_extensions = {"jupyter_mlops": False}
