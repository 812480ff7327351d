"""The package's SQL string literals, per dialect: a name never ends its literal early."""
import pytest

jinja2 = pytest.importorskip("jinja2")

from helpers import ROOT  # noqa: E402


def _module():
    text = (ROOT / "dbt_package" / "macros" / "utils" / "generic_tests.sql").read_text()
    text = text.replace("{% test ", "{% macro test_").replace("{% endtest %}", "{% endmacro %}")
    out = []
    module = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(text).make_module(
        {"return": lambda x: out.append(x) or ""})
    return module, out


@pytest.mark.parametrize("name", ["plain", "it's", "a\\'; drop table x; --", "back\\slash"])
def test_string_literals_round_trip_in_duckdb_and_spark(name):
    import duckdb

    module, out = _module()
    module.default__string_literal(name)
    module.spark__string_literal(name)
    duck, spark = out
    assert duckdb.sql(f"select {duck}").fetchall()[0][0] == name
    # Spark: backslash escapes; decode as Spark's parser does
    body = spark[1:-1]
    decoded, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            decoded.append(body[i + 1])
            i += 2
        else:
            assert body[i] != "'", f"unescaped quote in {spark}"
            decoded.append(body[i])
            i += 1
    assert "".join(decoded) == name


@pytest.mark.parametrize("dtype, numeric", [
    ("TIME", True), ("TIMESTAMP WITH TIME ZONE", True), ("timestamp_ns", True), ("DATE", True),
    ("DECIMAL(18,3)", True), ("UHUGEINT", True), ("VARCHAR", False), ("BOOLEAN", False), ("INTERVAL", False),
])
def test_the_fidelity_test_bins_numbers_dates_and_times_of_day(dtype, numeric):
    """A column binned by quantiles, not compared value by value: TIME (learned since stop 47) was compared as
    text, so every twin value was a category of its own and the test failed on a good twin."""
    class Column:
        def __init__(self, dtype):
            self.dtype = dtype

        def is_numeric(self):
            return False

        is_float = is_integer = is_numeric

    module, out = _module()
    module.default__is_numeric(Column(dtype))
    assert out == [numeric]
