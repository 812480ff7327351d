"""Utility and risk measures of a twin against its source."""

from .attacks import AttackResult, inference_attack, linkability_attack, singling_out_attack
from .risk import RiskReport, dcr_distances, dcr_share, share_closer_to_training, exact_copy_rate, nndr
from .utility import (association_difference, association_matrix, column_fidelity, correlation_difference, discretize, marginal_tvd,
                      matrices_difference,
                      mean_marginal_tvd, tstr_auc, tstr_r2)

__all__ = ["discretize", "marginal_tvd", "mean_marginal_tvd", "tstr_auc", "tstr_r2", "column_fidelity", "association_matrix", "association_difference",
           "correlation_difference", "matrices_difference", "share_closer_to_training", "AttackResult", "inference_attack", "linkability_attack",
           "singling_out_attack", "RiskReport", "dcr_distances", "dcr_share", "exact_copy_rate", "nndr"]
