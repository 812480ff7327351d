"""Utility and risk measures of a twin against its source."""

from .utility import discretize, marginal_tvd, mean_marginal_tvd

__all__ = ["discretize", "marginal_tvd", "mean_marginal_tvd"]
