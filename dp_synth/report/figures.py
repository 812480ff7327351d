"""Report figures: matplotlib (Agg, no display) drawn from the report's own JSON numbers and
returned as ``data:image/png;base64,…`` URIs, so the HTML is one file that opens offline."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..evaluate.summary import RISK_LIMIT  # noqa: E402

__all__ = ["distributions", "associations", "dcr_histogram", "attack_risks", "budget_history"]

REAL, TWIN = "#4c72b0", "#dd8452"


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def distributions(dists: dict[str, Any], per_row: int = 4) -> str:
    """Small multiples: real vs twin share per category / per histogram bin of every column."""
    names = list(dists)
    rows = max(1, math.ceil(len(names) / per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(3.2 * per_row, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        d = dists[name]
        if d["type"] == "categorical":
            x = range(len(d["labels"]))
            ax.bar([i - 0.2 for i in x], d["real"], 0.4, color=REAL, label="real")
            ax.bar([i + 0.2 for i in x], d["twin"], 0.4, color=TWIN, label="twin")
            ax.set_xticks(list(x), [str(v)[:10] for v in d["labels"]], rotation=60, ha="right", fontsize=6)
        else:
            e = d["edges"]
            ax.stairs(d["real"], e, color=REAL, fill=True, alpha=0.45, label="real")
            ax.stairs(d["twin"], e, color=TWIN, linewidth=1.6, label="twin")
            ax.tick_params(labelsize=6)
        ax.set_title(name, fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return _uri(fig)


def associations(assoc: dict[str, Any]) -> str:
    """Association matrices (|Pearson r| or Cramér's V) of the twin (and of the real table, with
    --real-statistics), side by side."""
    import numpy as np

    cols = assoc["columns"]
    keys = [k for k in ("real", "twin") if k in assoc]  # by default only the twin's (a DP output)
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4.6), squeeze=False)
    axes = axes[0]
    for ax, key, title in ((axes[i], k, k) for i, k in enumerate(keys)):
        im = ax.imshow(np.abs(np.array(assoc[key])), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(cols)), [c[:12] for c in cols], rotation=70, ha="right", fontsize=6)
        ax.set_yticks(range(len(cols)), [c[:12] for c in cols], fontsize=6)
        ax.set_title(f"associations — {title}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return _uri(fig)


def dcr_histogram(dcr: dict[str, Any]) -> str:
    """Distance from twin rows to the closest training row vs the closest holdout row."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.stairs(dcr["to_training"], dcr["edges"], color=REAL, linewidth=1.6, label="to closest training row")
    ax.stairs(dcr["to_holdout"], dcr["edges"], color="#55a868", linewidth=1.6, linestyle="--",
              label="to closest holdout row")
    ax.set_xlabel("distance (Gower-like)", fontsize=8)
    ax.set_ylabel("twin rows", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _uri(fig)


def attack_risks(attacks: list[dict[str, Any]], bound: float = RISK_LIMIT) -> str:
    """Risk of each attack with its 95 % interval, against the suites' bound."""
    fig, ax = plt.subplots(figsize=(6, 2.4))
    y = list(range(len(attacks)))
    risk = [a["risk"] or 0 for a in attacks]
    lo = [r - (a["ci_low"] or 0) for r, a in zip(risk, attacks)]
    hi = [(a["ci_high"] or 0) - r for r, a in zip(risk, attacks)]
    ax.errorbar(risk, y, xerr=[lo, hi], fmt="o", color=TWIN, capsize=4)
    ax.axvline(bound, color="#c44e52", linestyle=":", label=f"suite bound {bound}")
    ax.set_yticks(y, [a["attack"] for a in attacks], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("risk = (attack − control)/(1 − control)", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    return _uri(fig)


def budget_history(ledger: list[dict[str, Any]], cap: float | None) -> str:
    """Cumulative ε charged to the source, run by run, against its cap."""
    fig, ax = plt.subplots(figsize=(6, 2.6))
    total, xs, ys = 0.0, [0], [0.0]
    for i, r in enumerate(ledger, 1):
        total += float(r["epsilon"] or 0)
        xs.append(i)
        ys.append(total)
    ax.plot(xs, ys, drawstyle="steps-post", marker="o", color=REAL, label="ε spent (basic composition)")
    if cap is not None:
        ax.axhline(cap, color="#c44e52", linestyle="--", label=f"cap {cap:g}")
    ax.set_xticks(xs)
    ax.set_xlim(-0.2, len(xs) - 0.8)
    ax.set_xlabel("run", fontsize=8)
    ax.set_ylabel("ε", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _uri(fig)
