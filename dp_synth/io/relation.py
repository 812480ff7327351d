r'''Relation names: parsing ``schema.table`` (with SQL double-quote rules) and quoting.

>>> Relation.parse('"my schema"."odd.""name"""')
Relation(schema='my schema', name='odd."name"')
>>> Relation.parse('sales.orders').sql
'"sales"."orders"'
'''

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["Relation", "quote_ident", "fresh_name"]


def quote_ident(name: str) -> str:
    """Always quote: user strings never reach SQL as bare identifiers."""
    return '"' + str(name).replace('"', '""') + '"'


def fresh_name(columns, base: str) -> str:
    """``base``, or ``base1``, ``base2``, … : the first that no column has (case-insensitively), for a helper
    column or alias added beside a table's own.

    >>> fresh_name(["a", "__X"], "__x")
    '__x1'
    """
    taken = {str(c).casefold() for c in columns}
    return next(f"{base}{i or ''}" for i in range(len(taken) + 1) if f"{base}{i or ''}".casefold() not in taken)


def _split(text: str) -> list[str]:
    parts, cur, i, quoted = [], [], 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and i + 1 < len(text) and text[i + 1] == '"':
                cur.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cur.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quoted:
        raise InputError(f"relation name {text!r} has an unclosed double quote")
    parts.append("".join(cur))
    return parts


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, default_schema: str = "main") -> "Relation":
        if not isinstance(text, str) or not text.strip():
            raise InputError("a table name is required, e.g. 'main.customers'")
        parts = _split(text.strip())
        if any(p == "" for p in parts) or len(parts) > 2:
            raise InputError(f"cannot read table name {text!r}: use TABLE or SCHEMA.TABLE, and double "
                             'quotes around names with dots, e.g. "my.schema"."my table"')
        return cls(default_schema, parts[0]) if len(parts) == 1 else cls(parts[0], parts[1])

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        plain = all(p.isidentifier() and p.isascii() for p in (self.schema, self.name))
        return f"{self.schema}.{self.name}" if plain else self.sql

    def synthetic_sibling(self) -> "Relation":
        """The default twin: same name in ``<schema>_synthetic``, so access is granted per schema."""
        return Relation(f"{self.schema}_synthetic", self.name)
