"""``jupyter mlops publish | models | alias | history``: the model registry commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InvalidInput
from .base import Subcommand


def add_publish_options(parser: argparse.ArgumentParser, registry_uri: bool = True) -> None:
    """Options shared by ``publish`` and ``run --publish`` (description, aliases, gates)."""
    parser.add_argument("--description", help="first section of the model card "
                        "(default: the notebook's first markdown cell)")  # fmt: skip
    parser.add_argument("--alias", action="append", default=[], metavar="ALIAS",
                        help="point ALIAS at the new version (repeatable)")  # fmt: skip
    parser.add_argument("--require", action="append", default=[], metavar="METRIC>=X",
                        help="refuse unless the run's metric satisfies it; operators "
                        ">=, >, <=, <, == (repeatable)")  # fmt: skip
    parser.add_argument("--must-beat", metavar="ALIAS:METRIC[:lower]",
                        help="refuse unless the run beats the version holding ALIAS on "
                        "METRIC (higher is better unless :lower)")  # fmt: skip
    parser.add_argument("--promote", metavar="ALIAS",
                        help="move ALIAS to the new version only if it beats --must-beat "
                        "(which then refuses nothing: the version is kept either way)")  # fmt: skip
    if registry_uri:
        _add_registry_options(parser, store=False)


def publish_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``service.publish`` from options of :func:`add_publish_options`
    (None: not given, the notebook's saved publish settings apply); gate syntax is checked
    here so a typo fails before anything runs (exit 2)."""
    from ..registry.gates import parse_must_beat, parse_require

    for spec in args.require:
        parse_require(spec)
    parse_must_beat(args.must_beat)
    return {
        "description": args.description,
        "aliases": tuple(args.alias) or None,
        "require": tuple(args.require) or None,
        "must_beat": args.must_beat,
        "promote": args.promote,
    }


def _add_registry_options(parser: argparse.ArgumentParser, store: bool = True) -> None:
    existing = {opt for action in parser._actions for opt in action.option_strings}
    if "--registry-uri" not in existing:
        parser.add_argument("--registry-uri", help="MLflow registry/tracking URI (default: "
                            "$JUPYTER_MLOPS_REGISTRY_URI, $MLFLOW_TRACKING_URI, or the "
                            "SQLite registry in the store)")  # fmt: skip
    if store and "--store" not in existing:
        from .run_cmd import STORE_HELP

        parser.add_argument("--store", help=STORE_HELP)


def _service(args: argparse.Namespace) -> Any:
    from ..service import MlopsService

    return MlopsService.create(store=args.store, registry_uri=args.registry_uri)


def plural(n: int, word: str) -> str:
    """``1 version``, ``2 versions``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


class PublishApp(Subcommand):
    name = "publish"
    description = "Publish a run's model as a new version in the model registry."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID", help="a run id, or 'latest'")
        parser.add_argument(
            "--name",
            help="registered model name: ASCII letters, digits, _ and - (default: the "
            "notebook's saved publish settings, else from its file name)",
        )
        parser.add_argument("--notebook", help="with 'latest': newest run of this notebook")
        add_publish_options(parser)
        _add_registry_options(parser)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def run(self, args: argparse.Namespace) -> int:
        kwargs = publish_kwargs(args)
        result = _service(args).publish(args.run_id, args.name, notebook=args.notebook, **kwargs)
        if args.json:
            _print_json(result)
            return 0
        check = result["checks"]["deployability"]
        aliases = ", ".join(result["aliases"]) or "none"
        print(f"published {result['uri']} (aliases: {aliases}) from run {result['run_id']}")
        predicted = (f", predicted {plural(check.get('rows_out') or 0, 'row')}"
                     if check.get("predicted") else "")  # fmt: skip
        print(f"deployability: loaded in a fresh process{predicted}")
        for gate in result["checks"]["gates"]:
            note = f"; {gate['note']}" if gate.get("note") else ""
            print(f"gate passed: {gate['gate']} ({gate['value']:g}{note})")
        if "promotion" in result:
            print(promotion_line(result))
        return 0


def promotion_line(result: dict[str, Any]) -> str:
    """``promoted: ...`` / ``not promoted: ...`` for a publish with ``--promote``."""
    p = result["promotion"]
    if p["promoted"]:
        return f"promoted: @{p['alias']} -> version {result['version']} ({p['reason']})"
    return f"not promoted: version {result['version']} kept without @{p['alias']} ({p['reason']})"


class ModelsApp(Subcommand):
    name = "models"
    description = "List registered models and their versions (newest first)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", metavar="NAME", help="only this model")
        _add_registry_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, args: argparse.Namespace) -> int:
        service = _service(args)
        result = service.models(args.name)
        if args.json:
            _print_json(result)
            return 0
        models = [result] if isinstance(result, dict) else result
        if not models:
            print(f"no registered models in {service.registry_uri}")
        for model in models:
            aliases = ", ".join(f"@{a}→v{v}" for a, v in model["aliases"].items())
            count = plural(len(model["versions"]), "version")
            print(f"{model['name']}  ({count}) {aliases}".rstrip())
            for v in model["versions"]:
                metrics = " ".join(f"{k}={val:.4g}" for k, val in sorted(v["metrics"].items()))
                tags = " ".join(f"@{a}" for a in v["aliases"])
                line = f"  v{v['version']:<4} {v['created_at'] or '':<27} run {v['run_id'] or '-'}"
                print(f"{line}  {metrics}  {tags}".rstrip())
        return 0


class AliasApp(Subcommand):
    name = "alias"
    description = "Point an alias at a version, or delete it (--delete)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("alias", metavar="ALIAS")
        parser.add_argument("version", metavar="VERSION", nargs="?")
        parser.add_argument("--delete", action="store_true", help="remove the alias")
        _add_registry_options(parser)
        parser.add_argument("--json", action="store_true", help="print the history event")

    def run(self, args: argparse.Namespace) -> int:
        service = _service(args)
        if args.delete:
            if args.version is not None:
                raise InvalidInput("--delete takes no VERSION")
            event = service.delete_alias(args.name, args.alias)
            text = f"deleted @{args.alias} of {args.name} (was version {event['from_version']})"
        else:
            if args.version is None:
                raise InvalidInput("VERSION is required (or use --delete)")
            event = service.set_alias(args.name, args.alias, args.version)
            before = event["from_version"]
            moved = f"from version {before} " if before is not None else ""
            text = f"@{args.alias} of {args.name}: {moved}to version {event['to_version']}"
        if args.json:
            _print_json(event)
        else:
            print(text)
        return 0


class HistoryApp(Subcommand):
    name = "history"
    description = "Show every publish and alias move of a model, oldest first."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME")
        _add_registry_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, args: argparse.Namespace) -> int:
        events = _service(args).history(args.name)
        if args.json:
            _print_json(events)
            return 0
        for e in events:
            if e["event"] == "publish":
                what = f"published version {e['to_version']} (run {e.get('run_id')})"
            elif e["event"] == "alias-set":
                frm = f"version {e['from_version']}" if e["from_version"] is not None else "unset"
                what = f"@{e['alias']}: {frm} -> version {e['to_version']}"
            else:
                what = f"@{e['alias']}: version {e['from_version']} -> deleted"
            by = f"{e['by']} (schedule {e['schedule']})" if e.get("schedule") else e["by"]
            why = f"  {e['reason']}" if e.get("reason") else ""
            print(f"{e['at']}  {by}  {what}{why}")
        return 0
