"""Utility and risk measures of a twin against its source."""

from .risk import RiskReport, dcr_share, exact_copy_rate
from .utility import discretize, marginal_tvd, mean_marginal_tvd, tstr_auc

__all__ = ["discretize", "marginal_tvd", "mean_marginal_tvd", "tstr_auc", "RiskReport", "dcr_share",
           "exact_copy_rate"]
