import pyarrow as pa
import pytest

from dp_synth import InputError, Kind, Role, TableSpec
from dp_synth.spec import load_spec_overrides


def test_kinds_from_arrow_types(mixed):
    spec = TableSpec.from_arrow(mixed.schema)
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds == {"id": Kind.INTEGER, "name": Kind.CATEGORICAL, "age": Kind.INTEGER, "city": Kind.CATEGORICAL,
                     "income": Kind.FLOAT, "joined": Kind.DATE, "seen_at": Kind.TIMESTAMP,
                     "active": Kind.BOOLEAN, "balance": Kind.FLOAT}
    assert spec.column("active").categories == ("false", "true")  # booleans have a public domain


def test_overrides_roles_and_public_domains(mixed):
    spec = TableSpec.from_arrow(mixed.schema, {"id": {"role": "key"}, "age": {"bounds": [0, 120]},
                                               "city": {"categories": ["Oslo", "Lima"]}})
    assert spec.column("id").role is Role.KEY and spec.column("id").role_declared
    assert spec.column("age").bounds == (0.0, 120.0)
    assert spec.column("city").categories == ("Oslo", "Lima")
    assert [c.name for c in spec.learned][:2] == ["name", "age"]


@pytest.mark.parametrize("override, message", [
    ({"nope": {"role": "pii"}}, "do not exist"),
    ({"age": {"role": "secret"}}, "role must be one of"),
    ({"age": {"bounds": [5, 1]}}, "lower < upper"),
    ({"age": {"colour": "red"}}, "unknown spec keys"),
])
def test_bad_overrides_name_the_column(mixed, override, message):
    with pytest.raises(InputError, match=message):
        TableSpec.from_arrow(mixed.schema, override)


@pytest.mark.parametrize("typ", [pa.list_(pa.int64()), pa.struct([("a", pa.int64())]),
                                 pa.map_(pa.string(), pa.int64()), pa.binary()])
def test_nested_and_blob_columns_error_unless_ignored(typ):
    schema = pa.schema([("ok", pa.int64()), ("odd", typ)])
    with pytest.raises(InputError, match=r"column 'odd'.*cannot be learned.*ignore"):
        TableSpec.from_arrow(schema, table="t")
    spec = TableSpec.from_arrow(schema, {"odd": {"role": "ignore"}})
    assert spec.column("odd").role is Role.IGNORE


def test_yaml_spec_file(tmp_path):
    f = tmp_path / "spec.yml"
    f.write_text("columns:\n  email: {role: pii}\n  age: {bounds: [0, 100]}\n")
    assert load_spec_overrides(f) == {"email": {"role": "pii"}, "age": {"bounds": [0, 100]}}
    f.write_text("columns: [1, 2]\n")
    with pytest.raises(InputError, match="columns"):
        load_spec_overrides(f)


def test_spec_json_round_trip(mixed):
    spec = TableSpec.from_arrow(mixed.schema, {"id": {"role": "key"}})
    again = TableSpec.from_json(spec.to_json())
    assert again.columns == spec.columns and again.schema.equals(spec.schema)


def test_date_bounds_in_iso_form(mixed):
    spec = TableSpec.from_arrow(mixed.schema, {"joined": {"bounds": ["2020-01-01", "2022-12-31"]}})
    assert spec.column("joined").bounds == (18262.0, 19357.0)  # days since 1970-01-01
    with pytest.raises(InputError, match="bounds"):
        TableSpec.from_arrow(mixed.schema, {"joined": {"bounds": ["soon", "later"]}})
