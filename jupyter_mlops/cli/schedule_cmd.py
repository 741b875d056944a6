"""``jupyter mlops schedule add | list | show | pause | resume | remove | run-now``."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .base import Subcommand

ACTIONS = ("add", "list", "show", "pause", "resume", "remove", "run-now")


def _print_json(value: Any) -> None:
    from ..jsonsafe import dumps

    print(dumps(value, indent=2))


def _common(parser: argparse.ArgumentParser) -> None:
    from .run_cmd import STORE_HELP

    parser.add_argument("--store", help=STORE_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON")


class ScheduleApp(Subcommand):
    name = "schedule"
    description = (
        "Run a notebook's pipeline on a cron schedule (and publish, promote); the Jupyter "
        "server or `jupyter mlops scheduler` fires it."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        add = sub.add_parser("add", help="schedule a notebook")
        add.add_argument("notebook", help="the tagged notebook (.ipynb)")
        add.add_argument("--cron", required=True, help="cron expression: minute hour day month "
                         "weekday ('0 3 * * 1'); a 6th field is seconds ('* * * * * */10')")  # fmt: skip
        add.add_argument("--timezone", default="UTC", help="IANA time zone of the cron "
                         "expression (default UTC), e.g. Europe/Paris")  # fmt: skip
        add.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                         metavar=("NAME", "VALUE"), help="a parameter of every run; repeatable")  # fmt: skip
        add.add_argument("--catchup", choices=("coalesce", "skip"), default="coalesce",
                         help="slots missed while no scheduler ran: one catch-up run "
                         "(coalesce, default) or none (skip)")  # fmt: skip
        add.add_argument("--publish", metavar="NAME", nargs="?", const="",
                         help="publish each run's model as NAME (options not given: the "
                         "notebook's saved publish settings)")  # fmt: skip
        add.add_argument("--no-publish", action="store_true",
                         help="never publish, even if the notebook has saved publish settings")  # fmt: skip
        from .registry_cmd import add_publish_options

        add_publish_options(add, registry_uri=False)
        _common(add)
        sub.add_parser("list", help="every schedule, next firing, last outcome").set_defaults()
        _common(sub.choices["list"])
        for action, text in (("show", "one schedule and its firings' outcomes"),
                             ("pause", "stop firing until resumed"),
                             ("resume", "fire again, from the next slot on"),
                             ("remove", "delete the schedule (its runs stay)"),
                             ("run-now", "fire once now, in this process (exit code as `run "
                              "--publish`)")):  # fmt: skip
            one = sub.add_parser(action, help=text)
            one.add_argument("schedule_id", metavar="ID")
            _common(one)

    def run(self, args: argparse.Namespace) -> int:
        from ..service import MlopsService

        service = MlopsService.create(store=args.store)
        if args.action == "add":
            return self._add(service, args)
        if args.action == "list":
            found = service.schedules()
            if args.json:
                _print_json(found)
            else:
                print(schedules_table(found) if found else f"no schedules in {service.store}")
            return 0
        if args.action == "run-now":
            return self._run_now(service, args)
        method = {"show": service.schedule, "pause": service.pause_schedule,
                  "resume": service.resume_schedule, "remove": service.remove_schedule}  # fmt: skip
        record = method[args.action](args.schedule_id)
        if args.json:
            _print_json(record)
        elif args.action == "show":
            print(describe(record))
        elif args.action == "remove":
            print(f"removed schedule {record['id']} ({record['notebook']})")
        else:
            print(f"schedule {record['id']}: {'paused' if record['paused'] else 'active'}")
            if not record["paused"]:
                _print_next(record)
        return 0

    def _add(self, service: Any, args: argparse.Namespace) -> int:
        publish: dict[str, Any] | bool | None = None
        given = _publish_given(args)
        if args.no_publish:
            if given:
                raise InvalidInput("--no-publish cannot be used with publish options")
            publish = False
        elif given:
            from .registry_cmd import publish_kwargs

            kwargs = publish_kwargs(args)
            publish = {"name": args.publish or None, **kwargs}
            publish["aliases"] = list(publish["aliases"]) if publish["aliases"] else None
            publish["require"] = list(publish["require"]) if publish["require"] else None
        record = service.for_notebook(service.notebook_path(args.notebook)).add_schedule(
            args.notebook, args.cron, args.timezone,
            parameter_texts=[tuple(p) for p in args.parameter], publish=publish,
            catchup=args.catchup,
        )  # fmt: skip
        if args.json:
            _print_json(record)
            return 0
        print(f"schedule {record['id']}: {record['notebook']}, cron '{record['cron']}' "
              f"({record['timezone']}), store {record['store']}")  # fmt: skip
        _print_next(record)
        print("fired by the Jupyter server while it runs, or by `jupyter mlops scheduler`",
              file=sys.stderr)  # fmt: skip
        return 0

    def _run_now(self, service: Any, args: argparse.Namespace) -> int:
        from ..errors import GateRefused, RunFailed

        started: list[tuple[Path, str]] = []
        who = f"run-now {os.getpid()}@{socket.gethostname()}"
        firing = service.run_schedule_now(args.schedule_id, who,
                                          lambda root, run: started.append((root, run)))  # fmt: skip
        if firing.get("error"):
            raise InvalidInput(firing["error"])
        root, run_id = started[0]
        print(f"schedule {args.schedule_id}: run {run_id}", file=sys.stderr)
        service.run_queued(root, run_id)
        record = service.schedule(args.schedule_id)
        done = next(f for f in record["firings"] if f["slot"] == firing["slot"])
        outcome = done["outcome"] or {}
        if args.json:
            _print_json(done)
        else:
            from ..schedules.outcome import line

            print(line(outcome))
        result = outcome.get("result")
        if result == "refused":
            raise GateRefused(outcome.get("reason") or "the publish was refused")
        if result in ("run-failed", "interrupted", "error"):
            raise RunFailed(outcome.get("reason") or "the run failed")
        if result == "cancelled":
            return 130
        return 0


def _publish_given(args: argparse.Namespace) -> bool:
    return any([args.publish is not None, args.alias, args.require, args.must_beat,
                args.promote, args.description])  # fmt: skip


def _print_next(record: dict[str, Any]) -> None:
    print("next firings:")
    for when in record["next"]:
        print(f"  {when}")


def schedules_table(records: list[dict[str, Any]]) -> str:
    from ..schedules.outcome import line

    rows = [("id", "state", "cron", "timezone", "next", "notebook", "last outcome")]
    for r in records:
        rows.append((r["id"], "paused" if r["paused"] else "active", r["cron"], r["timezone"],
                     r["next"][0] if r["next"] else "-", os.path.basename(r["notebook"]),
                     line(r.get("last_outcome"))))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return "\n".join(
        "  ".join(row[i].ljust(widths[i]) for i in range(6)) + "  " + row[6] for row in rows
    )


def describe(record: dict[str, Any]) -> str:
    from ..schedules.outcome import line

    publish = record["publish"]
    what = ("never" if publish is False else "the notebook's saved publish settings, if any"
            if publish is None else json.dumps({k: v for k, v in publish.items() if v}))  # fmt: skip
    lines = [
        f"schedule {record['id']} ({'paused' if record['paused'] else 'active'})",
        f"  notebook    {record['notebook']}",
        f"  cron        {record['cron']} ({record['timezone']}), catch-up {record['catchup']}",
        f"  parameters  {json.dumps(record['parameters'])}",
        f"  publish     {what}",
        f"  next        {', '.join(record['next']) or '-'}",
        "firings (newest first):" if record["firings"] else "no firings yet",
    ]
    for f in record["firings"]:
        missed = f", {f['missed']} missed slot(s)" if f["missed"] else ""
        state = line(f["outcome"]) if f["outcome"] else f.get("run_status") or f["state"]
        lines.append(f"  {f['slot']}  {f['kind']}{missed}  run {f['run_id'] or '-'}  {state}"
                     f"  (by {f['fired_by']})")  # fmt: skip
    return "\n".join(lines)
