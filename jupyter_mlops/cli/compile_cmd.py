"""``jupyter mlops compile NOTEBOOK [--json]``: show the pipeline a notebook compiles to."""

from __future__ import annotations

import argparse
import json
import sys

from ..jsonsafe import dumps
from .base import Subcommand


def _format(value: object) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


class CompileApp(Subcommand):
    """Compile a tagged notebook into a pipeline and print its steps."""

    name = "compile"
    description = "Compile a tagged notebook into a pipeline and print its steps."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("notebook", help="the .ipynb file to compile")
        parser.add_argument("--json", action="store_true", help="print the pipeline as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from ..service import MlopsService

        pipeline = MlopsService.create().pipeline(args.notebook)
        if args.json:
            print(dumps(pipeline.to_dict(), indent=2))
            return 0
        for warning in pipeline.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        out = [f"pipeline: {pipeline.notebook} (kernel {pipeline.kernel})", "steps:"]
        changed = {s.name: set(s.inplace) for s in pipeline.steps}
        for step in pipeline.steps:
            cells = ", ".join(str(c + 1) for c in step.cells)
            flags = "" if step.cache else "  [cache disabled]"
            flags += f"  [cache ttl {step.cache_ttl:g} s]" if step.cache_ttl else ""
            flags += f"  [reads {', '.join(step.reads)}]" if step.reads else ""
            out.append(f"  {step.name}  (cells {cells}){flags}")
            out.append(f"    after: {', '.join(step.upstream) or '-'}")
            by_source: dict[str, list[str]] = {}
            for var, source in step.inputs.items():
                mark = " (changed in place)" if var in changed.get(source, ()) else ""
                by_source.setdefault(source, []).append(var + mark)
            for source, names in by_source.items():
                out.append(f"    from {source}: {', '.join(names)}")
            if step.params_read:
                out.append(f"    parameters: {', '.join(step.params_read)}")
        out.append("parameters:" if pipeline.parameters else "parameters: -")
        for name, spec in pipeline.parameters.items():
            secret = "  (secret)" if spec.get("secret") else ""
            out.append(f"  {name}: {spec['type']} = {_format(spec['default'])}{secret}")
        metrics = [f"{m} (from {pipeline.metric_steps[m]})" for m in pipeline.metrics]
        out.append(f"metrics: {', '.join(metrics) or '-'}")
        for kind in ("model", "example"):
            ref = getattr(pipeline, kind)
            out.append(f"{kind}: " + (f"{ref['variable']} (from {ref['step']})" if ref else "-"))
        print("\n".join(out))
        return 0
