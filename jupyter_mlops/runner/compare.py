"""Equality of two values computed in different processes, numpy/pandas-aware, floats within
a tolerance: :func:`first_difference` says where two values first differ (None: equal).

numpy and pandas are used only when the values are theirs (never imported otherwise).
Objects without their own ``__eq__`` (fitted estimators, plain classes) are compared by
their state (``__dict__``, or what they pickle), so two equal models compare equal.
"""

from __future__ import annotations

import math
import numbers
import reprlib
import sys
from typing import Any

MAX_DEPTH = 60
_SCALARS = (str, bytes, bool, type(None), int, complex)


def _module(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def first_difference(a: Any, b: Any, tolerance: float, path: str = "") -> str | None:
    """Where ``a`` and ``b`` first differ (``""``: the values themselves; ``"[2]"``,
    ``".coef_[0, 1]"``, ...), or None when they are equal (floats within ``tolerance``,
    relative and absolute; NaN equals NaN)."""
    return _diff(a, b, tolerance, path, 0, set())


def _close(x: float, y: float, tolerance: float) -> bool:
    if math.isnan(x) and math.isnan(y):
        return True
    return x == y or math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance)


def _diff(a: Any, b: Any, tol: float, path: str, depth: int, seen: set) -> str | None:
    if a is b or depth > MAX_DEPTH:
        return None
    key = (id(a), id(b))
    if key in seen:
        return None
    seen.add(key)
    if _module(a) == "numpy" or _module(b) == "numpy":
        return _numpy(a, b, tol, path, depth, seen)
    if _module(a) == "pandas" or _module(b) == "pandas":
        return _pandas(a, b, tol, path)
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
            return None if _close(float(a), float(b), tol) else path
        return path
    if isinstance(a, _SCALARS) or isinstance(b, _SCALARS):
        return None if type(a) is type(b) and a == b else path
    if type(a).__qualname__ != type(b).__qualname__:
        return f"{path} (type {type(a).__qualname__} vs {type(b).__qualname__})"
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _diff(x, y, tol, f"{path}[{i}]", depth + 1, seen)
            if found is not None:
                return found
        return None
    if isinstance(a, dict):
        if set(a) != set(b):
            extra = sorted(map(repr, set(a) ^ set(b)))[:3]
            return f"{path} (keys differ: {', '.join(extra)})"
        for k in a:
            found = _diff(a[k], b[k], tol, f"{path}[{k!r}]", depth + 1, seen)
            if found is not None:
                return found
        return None
    if isinstance(a, set | frozenset):
        return None if a == b else path
    if isinstance(a, type):
        return None if a.__qualname__ == b.__qualname__ else path
    if callable(a) and hasattr(a, "__code__"):
        same = a.__code__.co_code == b.__code__.co_code and a.__qualname__ == b.__qualname__
        return None if same else path
    if type(a).__eq__ is not object.__eq__:
        try:
            return None if bool(a == b) else path
        except Exception:  # noqa: BLE001 - an __eq__ that cannot answer: compare the state
            pass
    return _state(a, b, tol, path, depth, seen)


def _state(a: Any, b: Any, tol: float, path: str, depth: int, seen: set) -> str | None:
    """Objects compared by what they hold: ``__dict__``, else their pickled reduction."""
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and (vars(a) or vars(b)):
        va, vb = vars(a), vars(b)
        if set(va) != set(vb):
            return f"{path} (attributes differ)"
        for k in sorted(va):
            found = _diff(va[k], vb[k], tol, f"{path}.{k}", depth + 1, seen)
            if found is not None:
                return found
        return None
    try:
        ra, rb = a.__reduce_ex__(4), b.__reduce_ex__(4)
    except Exception:  # noqa: BLE001 - not reducible: nothing more to compare
        return None
    if isinstance(ra, str) or isinstance(rb, str):
        return None if ra == rb else path
    return _diff(list(ra[1:3]), list(rb[1:3]), tol, path, depth + 1, seen)


def _numpy(a: Any, b: Any, tol: float, path: str, depth: int, seen: set) -> str | None:
    import numpy as np

    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        if isinstance(a, np.generic | np.ndarray) and isinstance(b, np.generic | np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
        elif isinstance(a, np.generic) and isinstance(b, numbers.Number | np.generic):
            return _diff(a.item(), b, tol, path, depth + 1, seen)
        elif isinstance(b, np.generic) and isinstance(a, numbers.Number):
            return _diff(a, b.item(), tol, path, depth + 1, seen)
        elif hasattr(a, "__dict__") and type(a) is type(b):
            return _state(a, b, tol, path, depth, seen)
        else:
            return f"{path} (type {type(a).__qualname__} vs {type(b).__qualname__})"
    if a.shape != b.shape:
        return f"{path} (shape {a.shape} vs {b.shape})"
    if a.dtype.hasobject or b.dtype.hasobject:
        for index in np.ndindex(a.shape):
            found = _diff(a[index], b[index], tol, f"{path}{list(index)}", depth + 1, seen)
            if found is not None:
                return found
        return None
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        try:
            same = np.isclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        except TypeError:
            same = a == b
    else:
        try:
            same = np.asarray(a == b)
        except Exception:  # noqa: BLE001 - incomparable dtypes
            return path
        if same.shape != a.shape:
            return path
    if bool(np.all(same)):
        return None
    where = np.argwhere(~same)[0] if same.ndim else []
    return f"{path}[{', '.join(str(int(i)) for i in where)}]" if len(where) else path


def _pandas(a: Any, b: Any, tol: float, path: str) -> str | None:
    import pandas as pd
    import pandas.testing as pdt

    if type(a) is not type(b):
        return f"{path} (type {type(a).__qualname__} vs {type(b).__qualname__})"
    exact = {"check_exact": True} if tol == 0 else {"rtol": tol, "atol": tol}
    try:
        if isinstance(a, pd.DataFrame):
            pdt.assert_frame_equal(a, b, **exact)
        elif isinstance(a, pd.Series):
            pdt.assert_series_equal(a, b, **exact)
        elif isinstance(a, pd.Index):
            pdt.assert_index_equal(a, b, exact="equiv")
        else:
            return None if bool(a == b) else path
    except AssertionError as exc:
        first = " ".join(str(exc).split())[:100]
        return f"{path} ({first})"
    except Exception:  # noqa: BLE001 - values pandas cannot compare
        return path
    return None


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 8


def abridge(value: Any, limit: int = 100) -> str:
    """A one-line, shortened ``repr`` of a value."""
    module = _module(value)
    try:
        if module in ("numpy", "pandas") and "numpy" in sys.modules:
            import numpy as np

            with np.printoptions(threshold=8, edgeitems=3, precision=6):
                text = repr(value)
        else:
            text = _REPR.repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__
        text = f"<{type(value).__qualname__}: repr failed: {type(exc).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
