"""Public vocabularies: value sets known before any data is seen (US state codes, US state names).

A text column whose values are mostly such codes gets every code of the vocabulary as a category,
including the codes too rare to clear the release threshold of an unknown domain. The values are
public (they are in this file), so measuring a noisy count for each of them costs nothing beyond the
column's histogram, which counts them anyway; whether a column *is* such a column is decided from
that noisy histogram (post-processing). See :func:`dp_synth.profile.measure_profile`.

>>> US_STATE_CODES.name, len(US_STATE_CODES.values), "CA" in US_STATE_CODES
('US state codes', 62, True)
>>> [v.name for v in VOCABULARIES if "Texas" in v]
['US state names']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Mapping

__all__ = ["Vocabulary", "US_STATE_CODES", "US_STATE_NAMES", "VOCABULARIES", "public_values", "vocabulary_of"]

VOCABULARY_SHARE = 0.5  # a text column is a public vocabulary's when its values hold this share of rows
VOCABULARY_Z = 2.0      # … and their summed noisy counts clear this many σ√(values) (pure noise: ≤ 2.3 %)


@dataclass(frozen=True)
class Vocabulary:
    """A public value set, spelled as the column must spell it (matching is exact)."""

    name: str
    values: tuple[str, ...]
    _set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_set", frozenset(self.values))

    def __contains__(self, value: object) -> bool:
        return value in self._set


_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "District of Columbia", "AS": "American Samoa", "GU": "Guam",
    "MP": "Northern Mariana Islands", "PR": "Puerto Rico", "VI": "U.S. Virgin Islands",
    "FM": "Federated States of Micronesia", "MH": "Marshall Islands", "PW": "Palau",
}
_MILITARY = ("AA", "AE", "AP")  # USPS codes of armed forces addresses (no state name)

US_STATE_CODES = Vocabulary("US state codes", tuple(_STATES) + _MILITARY)
US_STATE_NAMES = Vocabulary("US state names", tuple(_STATES.values()))

# disjoint value sets (a value belongs to at most one), tried in this order
VOCABULARIES: tuple[Vocabulary, ...] = (US_STATE_CODES, US_STATE_NAMES)


@cache
def public_values() -> tuple[str, ...]:
    """Every value of every vocabulary, sorted: the cells a text column's histogram always counts.

    >>> len(public_values()) == sum(len(v.values) for v in VOCABULARIES)
    True
    """
    return tuple(sorted(set().union(*(v.values for v in VOCABULARIES))))


def vocabulary_of(counted: Mapping[str, float], n_noisy: float, sigma: float = 0.0,
                released: float = 0.0) -> Vocabulary | None:
    """The public vocabulary holding most rows by the noisy counts (post-processing), if any: its values'
    summed counts must reach VOCABULARY_SHARE of n̂, clear VOCABULARY_Z·σ√V (V values of noise σ: their
    sum is that noisy even where the column holds none of them) and exceed ``released``, the noisy mass of
    the column's other values that cleared the release threshold. With the share alone, seattle_weather's
    `weather` (sun, fog, rain: no state) took the state codes in ≈ 2 % of fits at ε = 1 (σ ≈ 25, 62 codes:
    σ√V ≈ 200 against n̂/2 ≈ 470), and its twin said "NV" on 5 % of days.

    >>> codes = {"AK": 300.0, "TX": 250.0, "sun": 0.0}
    >>> vocabulary_of(codes, 1000.0).name, vocabulary_of(codes, 1000.0, released=600.0)
    ('US state codes', None)
    """
    for vocab in VOCABULARIES:
        total = sum(counted.get(k, 0.0) for k in vocab.values)
        if (total >= VOCABULARY_SHARE * n_noisy and total > VOCABULARY_Z * sigma * math.sqrt(len(vocab.values))
                and total > released):
            return vocab
    return None
