"""Validation of twins with Great Expectations: custom expectations, JSON suites, Data Docs.

Needs the ``gx`` extra (``pip install 'dp-synth[gx]'``); importing this package does not import GX.

>>> from dp_synth.validate import SUITES
>>> SUITES
('utility', 'risk')
"""

from .suites import SUITES

__all__ = ["SUITES", "validate", "validate_all", "ValidationResult", "load_pair", "EvaluationPair"]


def __getattr__(name):
    if name in ("validate", "validate_all", "ValidationResult"):
        from . import run

        return getattr(run, name)
    if name in ("load_pair", "EvaluationPair"):
        from . import pair

        return getattr(pair, name)
    raise AttributeError(name)
