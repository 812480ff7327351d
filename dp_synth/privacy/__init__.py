"""Privacy accounting: every data-dependent release is a Measurement; their composition
is the (ε, δ) we report. See :mod:`dp_synth.privacy.rdp` for the math."""

from .accountant import Measurement, PrivacyStatement, compose, calibrate_profile_rho, calibrate_sgd_sigma
from .rdp import ORDERS

__all__ = ["Measurement", "PrivacyStatement", "compose", "calibrate_profile_rho",
           "calibrate_sgd_sigma", "ORDERS"]
