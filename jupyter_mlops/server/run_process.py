"""``python -m jupyter_mlops.server.run_process STORE RUN_ID [REGISTRY_URI]``: run one queued run.

Started by the server's run manager in a session of its own (``setsid``), so the run outlives
a closed browser and a server restart. SIGTERM cancels the run (kernels stopped, status
``cancelled``). Exit status 0 whatever the run's outcome (it is in the store); 2 if the run
was no longer queued.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ..errors import MlopsError
    from ..service import MlopsService

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3):
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    store, run_id = args[0], args[1]
    registry = args[2] if len(args) == 3 and args[2] else None
    try:
        service = MlopsService.create(store=store, registry_uri=registry)
        record = service.run_queued(service.store, run_id)
    except MlopsError as exc:
        print(f"error: {'; '.join(exc.messages)}", file=sys.stderr)
        return 2
    if record is None:
        print(f"run {run_id} is no longer queued", file=sys.stderr)
        return 2
    print(f"run {run_id}: {record['status']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
