"""Table spec: what each column is (kind) and what we do with it (role).

Kinds come from Arrow types; roles and public domains come from the user. Nothing here
reads data values: data-dependent decisions (like "this string column is nearly unique")
are made in :mod:`dp_synth.profile`, under DP.

>>> import pyarrow as pa
>>> spec = TableSpec.from_arrow(pa.schema([("id", pa.int64()), ("city", pa.string())]),
...                             overrides={"id": {"role": "key"}})
>>> [(c.name, c.kind.value, c.role.value) for c in spec.columns]
[('id', 'integer', 'key'), ('city', 'categorical', 'learn')]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import yaml

from .errors import InputError

__all__ = ["Kind", "Role", "ColumnSpec", "TableSpec", "load_spec_overrides", "MAX_LEARNED_COLUMNS", "type_range",
           "is_text", "check_width", "DAY_US"]

MAX_LEARNED_COLUMNS = 100  # candidate pairs grow as k²; measured in docs/reliability.md


class Kind(str, enum.Enum):
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"

    @property
    def is_numeric(self) -> bool:
        """Kinds modelled as binned numbers (dates, timestamps and times of day as days/microseconds)."""
        return self in (Kind.INTEGER, Kind.FLOAT, Kind.DATE, Kind.TIMESTAMP, Kind.TIME)


class Role(str, enum.Enum):
    LEARN = "learn"     # modelled by the generator
    KEY = "key"         # never learned; regenerated as fresh unique values
    PII = "pii"         # never learned; filled with values that do not come from the data
    IGNORE = "ignore"   # never learned; NULL in the twin


_UNSUPPORTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map,
                pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary,
                pa.types.is_union, pa.types.is_fixed_size_list, pa.types.is_duration, pa.types.is_interval)


def is_text(arrow_type: pa.DataType) -> bool:
    """A plain string type (utf8, large_utf8, string_view; not a dictionary)."""
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) \
        or pa.types.is_string_view(arrow_type)


def kind_of(arrow_type: pa.DataType) -> Kind | None:
    """The kind dp-synth models an Arrow type as, or None if it cannot be learned."""
    if pa.types.is_boolean(arrow_type):
        return Kind.BOOLEAN
    if pa.types.is_integer(arrow_type):
        return Kind.INTEGER
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Kind.FLOAT
    if pa.types.is_date(arrow_type):
        return Kind.DATE
    if pa.types.is_timestamp(arrow_type):
        return Kind.TIMESTAMP
    if pa.types.is_time(arrow_type):
        return Kind.TIME
    if is_text(arrow_type) or pa.types.is_dictionary(arrow_type):
        return Kind.CATEGORICAL
    return None


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind, role and any domain the user declared public.

    ``bounds`` (numeric) and ``categories`` (categorical) declared here are public:
    they cost no privacy budget. ``role_declared`` records whether the user chose the
    role; undeclared string columns are checked for near-uniqueness under DP. ``grain``
    (declared, public): the twin's values are rounded to multiples of it (timestamps: µs).
    """

    name: str
    kind: Kind
    role: Role = Role.LEARN
    bounds: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None
    role_declared: bool = False
    grain: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "role": self.role.value,
                "bounds": list(self.bounds) if self.bounds else None,
                "categories": list(self.categories) if self.categories is not None else None,
                "role_declared": self.role_declared, "grain": self.grain}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ColumnSpec":
        return cls(name=d["name"], kind=Kind(d["kind"]), role=Role(d["role"]),
                   bounds=tuple(d["bounds"]) if d.get("bounds") else None,
                   categories=tuple(d["categories"]) if d.get("categories") is not None else None,
                   role_declared=bool(d.get("role_declared", False)), grain=d.get("grain"))


@dataclass(frozen=True)
class TableSpec:
    """The ordered columns of a table, with the Arrow schema the twin must reproduce."""

    columns: tuple[ColumnSpec, ...]
    schema: pa.Schema = field(compare=False)
    table: str = "data"

    @property
    def learned(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.role is Role.LEARN)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def with_role(self, name: str, role: Role) -> "TableSpec":
        cols = tuple(dataclasses.replace(c, role=role) if c.name == name else c for c in self.columns)
        return dataclasses.replace(self, columns=cols)

    @classmethod
    def from_arrow(cls, schema: pa.Schema, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                   table: str = "data") -> "TableSpec":
        """Infer kinds from ``schema`` and apply per-column ``overrides``.

        ``overrides`` maps column name to any of ``kind``, ``role``, ``bounds``,
        ``categories``, ``grain``. Unknown column names are an error (a typo must not silently
        leave a PII column learned).
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(schema.names))
        if unknown:
            raise InputError(f"table {table!r}: spec names columns that do not exist: {unknown}. "
                             f"Columns are: {schema.names}")
        schema = _plain_schema(schema)
        cols = [_column(f, overrides.get(f.name, {}), table) for f in schema]
        if not any(c.role is Role.LEARN for c in cols):
            raise InputError(f"table {table!r}: no column is left to learn (all are key/pii/ignore). "
                             "Mark at least one column with role 'learn'.")
        return cls(columns=tuple(cols), schema=schema, table=table)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "columns": [c.to_json() for c in self.columns],
                "arrow_schema": _plain_schema(self.schema).serialize().to_pybytes().hex()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TableSpec":
        schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(d["arrow_schema"])))
        return cls(columns=tuple(ColumnSpec.from_json(c) for c in d["columns"]), schema=schema,
                   table=d.get("table", "data"))


_KEYS = {"kind", "role", "bounds", "categories", "grain"}
DAY_US = (0.0, 86_399_999_999.0)  # a time of day's range in microseconds: public (the type's), its default bounds
GRAIN_UNITS = {"millisecond": 1e3, "second": 1e6, "minute": 60e6, "hour": 3_600e6, "day": 86_400e6}  # in µs


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """Names, types and nullability only: pandas/Arrow metadata can carry data (a RangeIndex stop = n)."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def type_range(t: pa.DataType) -> tuple[float, float] | None:
    """Smallest and largest value a numeric Arrow type can hold (None: not a bounded number type)."""
    if pa.types.is_integer(t):
        import numpy as np

        info = np.iinfo(t.to_pandas_dtype())
        return float(info.min), float(info.max)
    if pa.types.is_decimal(t):
        top = 10.0 ** (t.precision - t.scale) - 10.0 ** (-t.scale)
        return -top, top
    if pa.types.is_floating(t):
        return -1.7976931348623157e308, 1.7976931348623157e308
    if pa.types.is_time(t):  # a time of day in microseconds
        return DAY_US
    return None


def _kind_fits(kind: Kind, t: pa.DataType) -> bool:
    """Whether values of ``kind`` can be written back into a column of Arrow type ``t``."""
    natural = kind_of(t)
    if natural is None:
        return False
    if kind in (Kind.INTEGER, Kind.FLOAT):
        return natural in (Kind.INTEGER, Kind.FLOAT)
    return kind is natural


def _column(f: pa.Field, override: Mapping[str, Any], table: str) -> ColumnSpec:
    where = f"table {table!r}, column {f.name!r}"
    bad = set(override) - _KEYS
    if bad:
        raise InputError(f"{where}: unknown spec keys {sorted(bad)}; allowed: {sorted(_KEYS)}")
    try:
        role = Role(override.get("role", "learn"))
    except ValueError:
        raise InputError(f"{where}: role must be one of {[r.value for r in Role]}") from None
    kind = kind_of(f.type)
    if not isinstance(override, Mapping):
        raise InputError(f"{where}: settings must be a mapping like {{'role': 'pii'}}, got {override!r}")
    if "kind" in override:
        try:
            kind = Kind(override["kind"])
        except (ValueError, TypeError):
            raise InputError(f"{where}: kind must be one of {[k.value for k in Kind]}") from None
        if role is Role.LEARN and not _kind_fits(kind, f.type):
            raise InputError(f"{where}: kind {kind.value!r} does not fit the column's type {f.type}: its values "
                             f"could not be written back. Use kind {(kind_of(f.type) or Kind.CATEGORICAL).value!r} "
                             "(the default), or cast the column in a copy (CREATE TABLE … AS SELECT: views are refused)")
    if kind is None:
        if role is Role.LEARN:
            raise InputError(f"{where}: type {f.type} cannot be learned. Declare it "
                             f"{{'role': 'ignore'}} to leave it NULL in the twin, or cast it in a copy "
                             "(CREATE TABLE … AS SELECT: views are refused).")
        kind = Kind.CATEGORICAL  # placeholder: ignored columns are never encoded
    if override.get("bounds") is not None and not kind.is_numeric:
        raise InputError(f"{where}: bounds apply to numbers, dates and timestamps; this column is {kind.value} "
                         f"(type {f.type}). Declare its values with categories instead")
    bounds = _bounds(override.get("bounds"), where, kind)
    if kind is Kind.TIME and bounds is None:
        bounds = DAY_US  # the type's range is a schema fact: no budget goes to a time of day's bounds
    if bounds is not None and type_range(f.type) is not None:
        lo, hi = type_range(f.type)
        if bounds[0] < lo or bounds[1] > hi:
            raise InputError(f"{where}: bounds [{bounds[0]:g}, {bounds[1]:g}] exceed what type {f.type} can hold "
                             f"([{lo:g}, {hi:g}]); declare bounds the data can have")
    cats = override.get("categories")
    if cats is not None:
        if kind is not Kind.CATEGORICAL or not (is_text(f.type) or pa.types.is_dictionary(f.type)):
            raise InputError(f"{where}: categories apply to string columns; this column is {kind.value} "
                             f"(type {f.type}). " + ("Declare bounds instead" if kind.is_numeric else
                                                     "Remove the categories"))
        if not isinstance(cats, (list, tuple)) or not cats:
            raise InputError(f"{where}: categories must be a non-empty list of values")
        nested = [c for c in cats if not isinstance(c, (str, int, float, bool)) or c is None]
        if nested:
            raise InputError(f"{where}: categories must be plain values (text or numbers), got {nested[:3]!r}")
        cats = tuple(str(c) for c in dict.fromkeys(cats))
    if kind is Kind.BOOLEAN:
        cats = ("false", "true")
    return ColumnSpec(name=f.name, kind=kind, role=role, bounds=bounds, categories=cats,
                      role_declared="role" in override, grain=_grain(override.get("grain"), where, kind))


def _grain(g: Any, where: str, kind: Kind) -> float | None:
    """A declared grain in the column's units: a positive number (a whole one for integers), or for a
    timestamp one of GRAIN_UNITS. Public, like bounds: the twin's values are rounded to it.

    >>> _grain(0.1, "c", Kind.FLOAT), _grain("hour", "c", Kind.TIMESTAMP), _grain(None, "c", Kind.DATE)
    (0.1, 3600000000.0, None)
    """
    if g is None:
        return None
    if kind in (Kind.TIMESTAMP, Kind.TIME):
        units = [u for u in GRAIN_UNITS if kind is Kind.TIMESTAMP or u != "day"]
        if not isinstance(g, str) or g not in units:  # (a list is unhashable: no `in` on it)
            raise InputError(f"{where}: the grain of a {kind.value} is one of {units}, got {g!r}")
        return GRAIN_UNITS[g]
    if kind not in (Kind.FLOAT, Kind.INTEGER):
        raise InputError(f"{where}: grain applies to numbers and timestamps (the twin's values are rounded to "
                         f"multiples of it); this column is {kind.value}. Remove the grain")
    ok = isinstance(g, (int, float)) and not isinstance(g, bool) and math.isfinite(g) and g > 0
    if not ok or (kind is Kind.INTEGER and float(g) != int(g)):
        raise InputError(f"{where}: grain must be a positive {'whole ' if kind is Kind.INTEGER else ''}number "
                         f"such as {'10' if kind is Kind.INTEGER else '0.01'}, got {g!r}")
    return float(g)


def _as_number(x: Any, kind: Kind | None) -> float:
    """Bounds in the column's own units: numbers, or ISO dates/timestamps for date kinds, "HH:MM[:SS]" for
    times of day (in microseconds)."""
    if kind is Kind.TIME and not isinstance(x, (int, float)):
        t = x if isinstance(x, dt.time) else dt.time.fromisoformat(str(x))
        return ((t.hour * 60 + t.minute) * 60 + t.second) * 1e6 + t.microsecond
    if kind in (Kind.DATE, Kind.TIMESTAMP) and not isinstance(x, (int, float)):
        t = x if isinstance(x, (dt.date, dt.datetime)) else dt.datetime.fromisoformat(str(x))
        if kind is Kind.DATE:
            d = t.date() if isinstance(t, dt.datetime) else t
            return float((d - dt.date(1970, 1, 1)).days)
        t = t if isinstance(t, dt.datetime) else dt.datetime(t.year, t.month, t.day)
        return (t.replace(tzinfo=None) - dt.datetime(1970, 1, 1)).total_seconds() * 1e6
    return float(x)


def _bounds(b: Any, where: str, kind: Kind | None = None) -> tuple[float, float] | None:
    if b is None:
        return None
    try:
        if isinstance(b, (str, bytes)) or len(b) != 2:
            raise TypeError
        lo, hi = (_as_number(x, kind) for x in b)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: bounds must be [lower, upper] numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{where}: bounds must be finite numbers, got {list(b)!r}")
    if not lo < hi:
        raise InputError(f"{where}: bounds [{lo}, {hi}] must have lower < upper")
    return lo, hi


def load_spec_overrides(spec: str | Path | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Read overrides from a dict or a YAML file of the form ``columns: {name: {role: pii}}``."""
    if spec is None:
        return {}
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"spec file {str(path)!r} not found")
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise InputError(f"spec file {str(path)!r} is not valid YAML: {e}") from None
    if not isinstance(spec, Mapping):
        raise InputError("spec must be a mapping like {'columns': {'email': {'role': 'pii'}}}")
    cols = spec.get("columns", spec)
    if not isinstance(cols, Mapping) or not all(isinstance(v, Mapping) for v in cols.values()):
        raise InputError("spec 'columns' must map column names to settings, e.g. {'email': {'role': 'pii'}}")
    return {str(k): dict(v) for k, v in cols.items()}


def warn_pii(table: str, column: str, share: float) -> None:
    warnings.warn(f"table {table!r}, column {column!r}: nearly every value is unique "
                  f"(DP estimate {share:.0%}); treated as PII and not learned. Declare "
                  f"{{'role': 'learn'}} to model it as a category anyway.", stacklevel=3)


def check_width(schema: pa.Schema, overrides: Mapping[str, Mapping], table: str) -> "TableSpec":
    """The spec ``overrides`` give a table of ``schema``, once it has at most MAX_LEARNED_COLUMNS learned."""
    spec = TableSpec.from_arrow(schema, overrides, table=table)
    if len(spec.learned) > MAX_LEARNED_COLUMNS:
        raise InputError(f"table {table!r} has {len(spec.learned)} columns to learn; dp-synth learns at most "
                         f"{MAX_LEARNED_COLUMNS} (memory and time grow with the square of the width). Declare the "
                         "others {'role': 'ignore'} or split the table")
    return spec
