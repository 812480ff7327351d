import pytest

from dp_synth import InputError
from dp_synth.io.relation import Relation, quote_ident


@pytest.mark.parametrize("text, schema, name", [
    ("adult", "main", "adult"),
    ("sales.orders", "sales", "orders"),
    ('"my schema"."my table"', "my schema", "my table"),
    ('"a.b"."c.d"', "a.b", "c.d"),
    ('"quo""te"', "main", 'quo"te'),
    ("données.clients_é", "données", "clients_é"),
])
def test_parse(text, schema, name):
    assert Relation.parse(text) == Relation(schema, name)


@pytest.mark.parametrize("text", ["", "a..b", "a.b.c", '"open', "."])
def test_parse_rejects(text):
    with pytest.raises(InputError):
        Relation.parse(text)


def test_quoting_escapes_quotes():
    assert quote_ident('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'
    assert Relation("s", 'a"b').sql == '"s"."a""b"'
    assert Relation("main", "t").synthetic_sibling() == Relation("main_synthetic", "t")
