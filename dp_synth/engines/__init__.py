"""Engines dp-synth runs in: a registry of :class:`Engine` backends, one folder each.

>>> from dp_synth.engines import ENGINES, open_engine
>>> sorted(ENGINES)
['duckdb', 'spark']
>>> with open_engine(":memory:") as eng:
...     eng.name
'duckdb'

Backends are imported on first use (``pyspark`` only when a Spark engine is asked for or a
Spark session is passed). Nothing outside ``dp_synth/engines/<name>/`` imports an engine's driver.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import InputError
from .base import Engine, Resolved, identity

__all__ = ["ENGINES", "Engine", "Resolved", "identity", "engine_class", "open_engine", "register_engine"]

# name → "module:Class", imported lazily
ENGINES: dict[str, str] = {
    "duckdb": "dp_synth.engines.duckdb:DuckDBEngine",
    "spark": "dp_synth.engines.spark:SparkEngine",
}


def register_engine(name: str, target: str) -> None:
    """Add a backend: ``target`` is ``"package.module:EngineSubclass"``."""
    ENGINES[name] = target


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}")
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def _detect(db: Any) -> str:
    """Which engine ``db`` belongs to, without importing any other engine's driver."""
    if isinstance(db, Engine):
        return db.name
    kind = type(db).__module__.split(".")[0]
    if kind == "pyspark":
        return "spark"
    return "duckdb"


def open_engine(db: Any, engine: str | None = None, **options: Any) -> Engine:
    """An :class:`Engine` on ``db``: a DuckDB path/connection, a SparkSession, or an Engine (returned as is).

    ``engine`` forces a backend (``"spark"`` with a warehouse folder opens a local session).
    """
    if isinstance(db, Engine):
        return db
    name = engine or _detect(db)
    cls = engine_class(name)
    if not cls.accepts(db):
        raise InputError(f"db must be {cls.describe_db}, got a {type(db).__name__}")
    return cls.open(db, **options)
