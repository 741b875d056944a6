"""The parameters form: one standard ipywidgets control per typed pipeline parameter."""

from __future__ import annotations

import json
import math
from typing import Any

import ipywidgets as w

from ..errors import InvalidInput

_STYLE = {"description_width": "10em"}
_WIDE = w.Layout(width="32em")


class ParametersForm:
    """Controls built from a pipeline's ``parameters_schema`` (see
    :func:`jupyter_mlops.compiler.parameters.parameters_schema`), pre-filled with the
    defaults: ``IntText``, ``FloatText``, ``Checkbox``, ``Text`` (``Password`` for a
    secret), and a JSON ``Textarea`` for lists, dicts and untyped parameters."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.specs: dict[str, dict[str, Any]] = dict(schema.get("properties") or {})
        self.controls: dict[str, w.ValueWidget] = {}
        self._text: set[str] = set()  # controls holding text the runner converts
        for name, spec in self.specs.items():
            self.controls[name] = self._control(name, spec)
        self._defaults = {name: c.value for name, c in self.controls.items()}
        reset = w.Button(description="Reset to defaults", icon="undo")
        reset.add_class("mlops-reset-parameters")
        reset.on_click(lambda _button: self.reset())
        children: list[w.Widget] = list(self.controls.values())
        if not children:
            children = [w.HTML("<i>This notebook has no parameters (tag a cell "
                               "<code>parameters</code>).</i>")]  # fmt: skip
        else:
            children.append(reset)
        self.reset_button = reset
        self.box = w.VBox(children)
        self.box.add_class("mlops-parameters")

    def _control(self, name: str, spec: dict[str, Any]) -> w.ValueWidget:
        kind, default = spec.get("x-mlops-type", "any"), spec.get("default")
        common = {"description": name, "style": _STYLE, "layout": _WIDE,
                  "tooltip": f"{name} ({kind})"}  # fmt: skip
        if kind == "bool":
            return w.Checkbox(value=bool(default), indent=False, **common)
        if kind == "int" and abs(default) < 2**53:  # exact in the browser's numbers
            return w.IntText(value=default, **common)
        if kind == "float" and math.isfinite(default):
            return w.FloatText(value=default, **common)
        self._text.add(name)
        if kind == "str":
            cls = w.Password if spec.get("writeOnly") else w.Text
            return cls(value=default, placeholder="env:VARIABLE" if cls is w.Password else "",
                       **common)  # fmt: skip
        if kind in ("int", "float"):  # huge ints, inf, nan: typed as on the command line
            return w.Text(value=_literal(default), **common)
        return w.Textarea(value=json.dumps(default), placeholder="JSON", rows=2, **common)

    def values(self) -> dict[str, Any]:
        """The form's values, typed; :class:`InvalidInput` naming every parameter whose text
        is not a value of its type (converted as ``-p NAME TEXT`` would be)."""
        from ..runner.params import convert_text

        values, problems = {}, []
        for name, control in self.controls.items():
            if name not in self._text:
                values[name] = control.value
                continue
            kind = self.specs[name].get("x-mlops-type", "any")
            try:
                values[name] = convert_text(name, kind, control.value)
            except InvalidInput as exc:
                problems.extend(exc.messages)
        if problems:
            raise InvalidInput(*problems)
        return values

    def reset(self) -> None:
        """Every control back to its parameter's default."""
        for name, control in self.controls.items():
            control.value = self._defaults[name]

    def keep_values_of(self, other: ParametersForm) -> None:
        """Take the values the user set in ``other`` for parameters of the same name and type
        (the form is rebuilt after the notebook changed)."""
        for name, control in self.controls.items():
            old = other.controls.get(name)
            if old is not None and type(old) is type(control):
                same = other.specs[name].get("x-mlops-type") == self.specs[name].get("x-mlops-type")
                if same:
                    control.value = old.value

    def close(self) -> None:
        for control in self.controls.values():
            control.close()
        for child in self.box.children:
            child.close()
        self.box.close()


def _literal(value: Any) -> str:
    """A float or int as the command line spells it (``inf``, ``nan``, digits)."""
    return str(value)
