"""The report as one self-contained HTML page: inline CSS, inline PNGs, no script, no external URL.

Every value from the warehouse goes through :func:`html.escape`; a table or column name cannot
inject markup.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable

from ..evaluate.summary import RISK_LIMIT
from . import figures

__all__ = ["render_html"]

_CSS = """
.banner{background:#fff3cd;border:1px solid #e0b84c;padding:8px 12px;border-radius:4px}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:auto;padding:24px}
h1{margin:0 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}h3{margin-top:22px}
table{border-collapse:collapse;margin:8px 0;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.dot{display:inline-block;width:12px;height:12px;border-radius:6px;margin-right:6px;vertical-align:middle}
.green{background:#2e9d4a}.amber{background:#e0a800}.red{background:#c62828}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:8px 12px;margin:8px 0}
.warn{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px;margin:8px 0}
.muted{color:#666;font-size:12px}img{max-width:100%;background:#fff;border:1px solid #eee}
.kpi{display:inline-block;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;margin:4px 8px 4px 0}
.kpi b{display:block;font-size:20px}section.twin{background:#fff;border:1px solid #e4e4e4;padding:4px 20px 20px;margin-top:28px}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"
    return e(x)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _dot(status: str, label: str | None = None) -> str:
    return f'<span class="dot {e(status)}" title="{e(status)}"></span>{e(label or status)}'


def _anchor(twin: str) -> str:
    return "twin-" + "".join(ch if ch.isalnum() else "-" for ch in twin)


def _kpi(label: str, value: str) -> str:
    return f'<span class="kpi"><b>{value}</b>{e(label)}</span>'


def _overview(report: dict) -> str:
    ov = report["overview"]
    out = ["<h2>Overview</h2>"]
    out += [f'<div class="warn">{e(n)}</div>' for n in ov["notes"]]
    if ov["twins"]:
        out.append(_table(["status", "twin", "source", "ε of latest run", "built (UTC)", "why"], (
            [_dot(t["status"]), f'<a href="#{_anchor(t["twin"])}">{e(t["twin"])}</a>', e(t["source"]),
             _num(t["epsilon"]), e(t["created_at"][:19]), e("; ".join(t["reasons"]) or "all checks passed")]
            for t in ov["twins"])))
        out.append("<h3>Budget per source</h3>")
        out.append(_table(["source", "runs", "ε spent", "δ spent", "cap", "ε remaining"], (
            [e(s["source"]), _num(s["runs"]), _num(s["spent"]), _num(s["delta_spent"]),
             _num(s["cap"]) if s["cap"] is not None else "none declared",
             _num(s["remaining"]) if s["remaining"] is not None else "—"] for s in ov["sources"])))
    else:
        out.append('<p class="note">No synthetic twins are recorded in this database.</p>')
    return "".join(out)


def _privacy(t: dict) -> str:
    p = t["privacy"]
    parts = ", ".join(f"{e(k)} ε={_num(v)}" for k, v in (p.get("parts") or {}).items())
    rows = [[e(m.get("part")), e(m.get("mechanism")), e(m.get("target")), _num(m.get("sigma"))]
            for m in (p.get("measurements") or [])]
    return (f"<h3>Privacy statement</h3><p>{_kpi('ε (total, everything derived from the data)', _num(p['epsilon']))}"
            f"{_kpi('δ', _num(p['delta'], 2))}</p><p>Parts (each on its own; composed in RDP the total is less than "
            f"their sum): {parts or '—'}. Mechanisms: "
            f"{e(', '.join(p.get('mechanisms') or []))}. Accountant: {e(p.get('accountant'))}.</p>"
            + (f"<details><summary>{len(rows)} measurements</summary>"
               + _table(["part", "mechanism", "what", "σ (noise multiplier)"], rows) + "</details>" if rows else ""))


def _budget(t: dict) -> str:
    b = t["budget"]
    rows = [[e(r["created_at"][:19]), e(r["twin"]), _num(r["epsilon"]), _num(r["delta"], 2),
             _num(r["budget_cap"]) if r["budget_cap"] is not None else "—", e(r["invoked_by"]),
             e(r["dbt_model"] or ""), _num(r["twin_rows"])] for r in t["ledger"]]
    remaining = f"{_num(b['remaining'])} of cap {_num(b['cap'])}" if b["cap"] is not None else "no cap declared"
    return (f"<h3>Budget of the source over time</h3><p>{_kpi('ε spent on ' + t['source'], _num(b['spent']))}"
            f"{_kpi('remaining', remaining)}</p>"
            + _table(["when (UTC)", "twin", "ε", "δ", "cap", "by", "dbt model", "rows"], rows)
            + f'<img alt="budget history of {e(t["source"])}" src="{figures.budget_history(t["ledger"], b["cap"])}">')


def _columns(t: dict) -> str:
    rows = [[e(c["name"]), e(c["kind"] or "?"), e(c["role"]), e(c["treatment"]),
             "public (declared)" if c["public_domain"] else "measured under DP" if c["role"] == "learn" else "—"]
            for c in t["columns"]]
    left_out = [c["name"] for c in t["columns"] if c["role"] != "learn"]
    return ("<h3>Columns</h3>" + _table(["column", "kind", "role", "in the twin", "domain"], rows)
            + f"<p>Left out of learning: {e(', '.join(left_out)) if left_out else 'nothing'}.</p>")


_TRAINED = {"all": "every weight", "output": "each column's output layer (a small table)"}


def _model_card(t: dict) -> str:
    c = t["model_card"]
    if "missing" in c:
        return f'<h3>Model card</h3><p class="note">{e(c["missing"])}</p>'
    training = c.get("training") or {}
    rows = [["generator", e(c["generator"])], ["training", e(json.dumps(training, sort_keys=True))],
            ["DP-SGD steps", _num(c["steps"])], ["sampling rate q", _num(c["sample_rate"], 4)],
            ["noise multiplier σ", _num(c["noise_multiplier"])],
            ["weights DP-SGD trained", e(_TRAINED.get(c.get("trained"), c.get("trained") or "—"))],
            ["sampling temperature (post-processing)", _num(c.get("temperature"), 2)],
            ["created (UTC)", e(c["created_at"])], ["package versions", e(json.dumps(c.get("versions") or {}))],
            ["source fingerprint (SHA-256)", e((c.get("data_fingerprint") or "")[:16] + "…")],
            ["holdout", e(json.dumps({k: v for k, v in (c.get("holdout") or {}).items() if k != "rule"}))],
            ["model file", e(c["model_path"])]]
    return "<h3>Model card</h3>" + _table(["", ""], rows)


def _utility(t: dict) -> str:
    m, f = t["measures"], t["figures"]
    u = m["utility"]
    worst = max(u["columns"].items(), key=lambda kv: kv[1]["value"]) if u["columns"] else None
    ml = u["ml_efficacy"]
    ml_text = (f"{_kpi('ML efficacy ratio (' + ml['metric'] + ' ' + _num(ml['synthetic']) + ' vs real ' + _num(ml['real']) + ')', _num(ml['ratio']))}"
               if ml else _kpi("ML efficacy", "not run: validate with --target"))
    return ("<h3>Utility</h3><p>"
            + "".join(_kpi(f"{k}-way marginal TVD", _num(v)) for k, v in u["marginal_tvd"].items())
            + _kpi("association difference (mean / worst pair)",
                   f"{_num(u['associations']['mean'])} / {_num(u['associations']['max'])}")
            + (_kpi(f"worst column ({worst[0]}, {worst[1]['metric'].upper()})", _num(worst[1]["value"])) if worst else "")
            + ml_text + "</p>"
            + '<p class="muted">Real vs twin per column (shares; '
              + ('exact real shares' if any(not d.get('dp') for d in f['distributions'].values()) else
                 'real as released under DP: the profile\'s noisy masses over released categories and DP bins')
              + ').</p><img alt="column distributions" '
              f'src="{figures.distributions(f["distributions"])}">'
            + f'<img alt="association matrices" src="{figures.associations(f["associations"])}">')


def _risk(t: dict) -> str:
    r = t["measures"]["risk"]
    if "unavailable" in r:
        return f'<h3>Re-identification risk</h3><p class="note">Not measured: {e(r["unavailable"])}</p>'
    rows = [[e(a["attack"]), _num(a["risk"]), f"[{_num(a['ci_low'])}, {_num(a['ci_high'])}]",
             e(a.get("verdict", "")), _num(a["attack_rate"]), _num(a["control_rate"]), _num(a["targets"])]
            for a in r["attacks"]]
    return ("<h3>Re-identification risk</h3><p>"
            + _kpi("exact copies of training rows", _num(r["exact_copy_rate"], 4))
            + _kpi("same rate for unseen real rows", _num(r["holdout_copy_rate"], 4))
            + _kpi("DCR share (0.5 ideal)", _num(r["dcr_share"])) + "</p>"
            + f'<p class="muted">Holdout: {e(t["measures"].get("holdout"))}.</p>'
            + f'<img alt="distance to closest record" src="{figures.dcr_histogram(t["figures"]["dcr"])}">'
            + f'<p class="muted">Against the risk suite\'s limit {RISK_LIMIT}: <em>above</em> when the whole interval '
            'exceeds it (the suite fails), <em>below</em> when it lies under it, <em>inconclusive</em> when it '
            'straddles it (more holdout rows would tell).</p>'
            + _table(["attack", "risk", "95 % interval", f"against {RISK_LIMIT}", "attack success", "control success", "targets"],
                     rows)
            + f'<img alt="attack risks" src="{figures.attack_risks(r["attacks"])}">')


def _validation(t: dict) -> str:
    v = t["validation"]
    if v is None:
        return ('<h3>Validation (Great Expectations)</h3><p class="note">Not validated. Run '
                f'<code>dp-synth validate --db … --table {e(t["twin"])}</code>.</p>')
    rows = [[e(s), _dot("green", "passed") if r["success"] else _dot("red", "failed"), e(r["validated_at"][:19]),
             e("; ".join(r["failures"]) or "—")] for s, r in v["suites"].items()]
    docs = Path(v["data_docs"]).as_uri() if v.get("data_docs") else None
    stale = '<p class="note">Validated before the latest training run: validate again.</p>' if v["stale"] else ""
    return ("<h3>Validation (Great Expectations)</h3>" + stale + _table(["suite", "result", "when (UTC)", "failed"], rows)
            + (f'<p>Data Docs: <a href="{e(docs)}">{e(v["data_docs"])}</a></p>' if docs else ""))


def _twin(t: dict) -> str:
    out = [f'<section class="twin" id="{_anchor(t["twin"])}"><h2>{_dot(t["status"])} {e(t["twin"])}</h2>',
           f"<p>Twin of <b>{e(t['source'])}</b> ({_num(t['source_rows'])} rows{' by a DP estimate' if t.get('source_rows_dp') else ' now'}) — {_num(t['rows'])} synthetic rows, "
           f"built {e(t['created_at'][:19])} UTC.</p>"]
    out += [f'<div class="{"warn" if t["status"] == "red" else "note"}">{e(r)}</div>' for r in t["reasons"]]
    if t.get("notes"):  # what the run said when it built the twin (values pooled, bounds collapsed, PII found)
        out.append("<h3>The run's notes</h3>" + "".join(f'<p class="note">{e(n)}</p>' for n in t["notes"]))
    out += [_columns(t), _privacy(t), _budget(t), _model_card(t)]
    m = t["measures"]
    if m is None:
        out.append('<p class="note">The twin or its source is missing: no utility or risk figures.</p>')
    elif "unavailable" in m:
        out.append(f'<p class="note">No utility or risk figures: {e(m["unavailable"])}</p>')
    else:
        out += [_utility(t), _risk(t)]
    out.append(_validation(t))
    return "".join(out) + "</section>"


def render_html(report: dict) -> str:
    title = f"dp-synth governance report — {report['database']}"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{e(title)}</h1><p class=\"muted\">Generated {e(report['generated_at'])} by dp-synth "
            f"{e(report['dp_synth_version'])}.</p>"
            + ('<p class="banner"><b>Exact real statistics included</b> (--real-statistics): distributions and row '
               "counts below are exact figures of the real tables, outside any DP guarantee.</p>"
               if report.get("real_statistics") else "")
            + "<p class=\"muted\"><b>Two classes of artifact.</b> <b>DP outputs</b> — the twins and their model files — "
            "are covered by the (ε, δ) shown and may be shared. <b>Governance records</b> — the ledger, validation "
            "results, Data Docs and this report — sit next to the real data and carry real-data statistics (utility "
            "and risk figures are computed on the real rows); share them only with those who may read the real tables. "
            "By default this report shows real distributions and row counts only as released under DP.</p>"
            + _overview(report) + "".join(_twin(t) for t in report["twins"]) + "</main></body></html>")
