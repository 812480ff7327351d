"""Errors users see. Each names the table/column at fault and what to do about it."""

__all__ = ["DPSynthError", "InputError", "BudgetExceededError", "ArtifactError"]


class DPSynthError(Exception):
    """Base class for every error dp-synth raises on purpose."""


class InputError(DPSynthError, ValueError):
    """The data, spec or parameters cannot be used as given."""


class BudgetExceededError(DPSynthError):
    """A run would push a source over its privacy budget cap; nothing was trained or charged."""


class ArtifactError(DPSynthError):
    """A model file is foreign, corrupted or tampered with; it was not loaded."""
