"""Loading the JSON suites of ``expectations/`` (shipped in the package as ``dp_synth/suites``).

A suite names its per-table inputs as ``{"$PARAMETER": name}``. A parameter left unset drops
an optional keyword (``positive``, ``secret``: defaults apply) or skips the expectation that
needs it (``target``: no ML efficacy without a declared target), and the skip is reported.
GX drops an expectation type it does not know *silently* while building a suite, so the loaded
count is checked against the file and a mismatch is an error naming the lost types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["SUITES", "OPTIONAL_KWARGS", "LoadedSuite", "load_suite", "suite_path"]

SUITES = ("utility", "risk")
OPTIONAL_KWARGS = frozenset({"positive", "secret"})


@dataclass
class LoadedSuite:
    suite: Any                          # great_expectations.ExpectationSuite
    parameters: dict[str, Any]          # values GX substitutes for {"$PARAMETER": ...}
    skipped: list[dict[str, Any]] = field(default_factory=list)


def suite_path(name: str, directory: str | Path | None = None) -> Path:
    if name not in SUITES:
        raise InputError(f"unknown suite {name!r}: use one of {', '.join(SUITES)} or all")
    base = Path(directory) if directory else Path(str(files("dp_synth") / "suites"))
    path = base / f"{name}.json"
    if not path.is_file():
        raise InputError(f"suite file {str(path)!r} not found")
    return path


def _resolve(config: dict, parameters: dict[str, Any]) -> tuple[dict | None, str | None]:
    """The expectation with unset optional parameters removed, or None and why it is skipped."""
    kwargs = dict(config.get("kwargs", {}))
    for key, value in list(kwargs.items()):
        if isinstance(value, dict) and "$PARAMETER" in value and parameters.get(value["$PARAMETER"]) is None:
            if key not in OPTIONAL_KWARGS:
                return None, f"parameter {value['$PARAMETER']!r} not given"
            del kwargs[key]
    return {**config, "kwargs": kwargs}, None


def load_suite(name: str, parameters: dict[str, Any], directory: str | Path | None = None) -> LoadedSuite:
    import great_expectations as gx

    from .expectations import register

    register()  # before the suite: GX drops unknown types without a word
    path = suite_path(name, directory)
    try:
        raw = json.loads(path.read_text())
        configs = raw["expectations"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise InputError(f"suite file {str(path)!r} is not a GX suite (name + expectations list): {e}") from None
    kept, skipped = [], []
    for config in configs:
        resolved, why = _resolve(config, parameters)
        if resolved is None:
            skipped.append({"type": config.get("type"), "kwargs": config.get("kwargs"), "reason": why})
        else:
            kept.append(resolved)
    suite = gx.ExpectationSuite(name=raw.get("name", f"dp_synth_{name}"), expectations=kept, meta=raw.get("meta"))
    if len(suite.expectations) != len(kept):
        loaded = {e.expectation_type for e in suite.expectations}
        lost = sorted({c.get("type") for c in kept} - loaded) or "(some)"
        raise InputError(f"suite {str(path)!r}: GX loaded {len(suite.expectations)} of {len(kept)} expectations; "
                         f"unknown or invalid types {lost}. Check the type names and their keyword arguments")
    used = {v["$PARAMETER"] for c in kept for v in c["kwargs"].values() if isinstance(v, dict) and "$PARAMETER" in v}
    return LoadedSuite(suite, {k: parameters[k] for k in used}, skipped)
