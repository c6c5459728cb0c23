"""Numbers in outputs: one text formatter and one JSON policy for every command.

JSON has no NaN or infinity. A non-finite float is written as ``null`` and the reason goes
beside it under ``<key>_nonfinite`` (``"nan"``, ``"inf"`` or ``"-inf"``), so a reader never
sees a number that is not one and never loses the fact that the value was undefined.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def format_number(x: float | None, digits: int = 4) -> str:
    """Fixed ``digits`` decimals, scientific notation for very small or large magnitudes."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    ax = abs(x)
    if ax != 0 and (ax < 10 ** -(digits - 1) or ax >= 1e6):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}f}"


def nonfinite_name(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays converted); non-finite floats become
    ``None`` with a ``<key>_nonfinite`` sibling in dicts (bare ``None`` in lists)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            value = _scalar(value)
            if isinstance(value, float) and not math.isfinite(value):
                out[str(key)] = None
                out[f"{key}_nonfinite"] = nonfinite_name(value)
            else:
                out[str(key)] = jsonable(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    obj = _scalar(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _scalar(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v
