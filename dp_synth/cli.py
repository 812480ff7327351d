"""``dp-synth`` command line: synthesize a DuckDB or Spark table, validate a twin, report on all twins, run the demo."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import DPSynthError
from .io.ledger import json_list

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Differentially private synthetic twins of warehouse tables.")
console = Console(stderr=True)
out = Console()


def _progress() -> tuple[Progress, callable]:
    progress = Progress(TextColumn("[bold]training[/]"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
                        TextColumn("ε spent {task.fields[eps]:.3f}"), TimeElapsedColumn(), console=console,
                        disable=not console.is_terminal)
    task = progress.add_task("train", total=None, eps=0.0)

    def on_step(step: int, steps: int, eps: float) -> None:
        progress.update(task, completed=step, total=steps, eps=eps)

    return progress, on_step


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(2)


_EXTRA_MODULES = {"gx": ("great_expectations", "pandas"), "report": ("matplotlib",)}


def _optional(module: str, name: str, extra: str):
    """A function from an optional part of the package, or exit 2 naming the extra to install."""
    import importlib.util

    def absent(m: str) -> bool:
        try:
            return importlib.util.find_spec(m) is None
        except (ImportError, ValueError, AttributeError):
            return True

    missing = [m for m in _EXTRA_MODULES.get(extra, ()) if absent(m)]
    if missing:
        _fail(f"this command needs the {extra!r} extra (missing: {', '.join(missing)}): "
              f"pip install 'dp-synth[{extra}]'")
    try:
        return getattr(importlib.import_module(module, __package__), name)
    except ImportError as e:
        _fail(f"this command needs the {extra!r} extra: pip install 'dp-synth[{extra}]' ({e})")


def _guarded(fn, *args, **kwargs):
    """Run ``fn`` without library warnings on the terminal; bad input exits 2 with its message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except DPSynthError as e:
        _fail(str(e))


ENGINE_HELP = "duckdb (embedded default: --db is a .duckdb file) or spark (--db is the warehouse folder of a local session)"


def _engine_options(engine: str, db: Path, master: str, conf: list[str] | None):
    """The --db argument for the library: a DuckDB path, or an opened Spark engine (closed by the caller)."""
    if engine == "duckdb":
        if not db.exists():
            _fail(f"database file {str(db)!r} not found")
        return str(db)
    if engine != "spark":
        _fail(f"unknown engine {engine!r}: use duckdb or spark")
    settings = {}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--spark-conf takes KEY=VALUE, got {item!r}")
        settings[key.strip()] = value
    if not master.startswith(("sc://", "spark://", "yarn", "k8s://")) and not db.is_dir():
        _fail(f"warehouse folder {str(db)!r} not found (the Spark engine's --db is a local session's warehouse)")
    from .engines import engine_class

    return _guarded(engine_class("spark").open, str(db), master=master, conf=settings)


def _close(target) -> None:
    if not isinstance(target, str):
        target.close()


def _run(**kwargs):
    """Synthesize with a progress bar; bad input exits 2 with its message."""
    from .runtime import synthesize

    progress, on_step = _progress()
    try:
        with progress, warnings.catch_warnings():
            # torch/opacus hook chatter is not user-facing; the run's own notices (PII detection, a small ε,
            # collapsed bounds) are printed from its ledger row by _statement
            warnings.simplefilter("ignore", UserWarning)
            return synthesize(on_step=on_step, invoked_by="cli", **kwargs)
    except DPSynthError as e:
        _fail(str(e))


def _statement(result) -> None:
    row = result.ledger_row
    verb = "reused existing twin (no new spend)" if result.reused else "wrote"
    out.print(f"[green]{verb}[/] {result.twin} ({result.rows} rows) from {result.source}")
    out.print(escape(f"privacy: (ε={row['epsilon']:.3f}, δ={row['delta']:.1e}) [profile ε={row['epsilon_profile']:.3f}, "
                     f"training ε={row['epsilon_training']:.3f}; composed in RDP; mechanisms: "
                     f"{', '.join(json_list(row['mechanisms']))}]"))
    for note in ([] if result.reused else json_list(row.get("notes"))):
        out.print(escape(f"note:    {note}"))
    if result.model_path:
        out.print(f"model:   {result.model_path}")
    if result.seconds:
        out.print("time:    " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))


@app.command("synthesize")
def synthesize_cmd(
    db: Path = typer.Option(..., "--db", help="DuckDB database file (Spark: warehouse folder)"),
    table: str = typer.Option(..., "--table", help="[SCHEMA.]TABLE to twin; quote odd names: '\"my schema\".\"t\"'"),
    epsilon: float = typer.Option(..., "--epsilon", help="total privacy budget ε for this twin"),
    delta: Optional[float] = typer.Option(None, "--delta", help="δ (default: 1/(10·N), N = rows rounded up to a power of 10)"),
    rows: Optional[int] = typer.Option(None, "--rows", help="rows in the twin (default: DP estimate of the source's)"),
    target: Optional[str] = typer.Option(None, "--target", help="[SCHEMA.]TABLE for the twin (default <schema>_synthetic.<table>)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="reproducible run for tests; NOT cryptographically secure"),
    spec: Optional[Path] = typer.Option(None, "--spec", help="YAML file: columns: {name: {role|kind|bounds|categories}}"),
    budget_cap: Optional[float] = typer.Option(None, "--budget-cap", help="refuse if the source's total ε would exceed this"),
    delta_cap: Optional[float] = typer.Option(None, "--delta-cap", help="refuse if the source's total δ would exceed this"),
    ledger_schema: Optional[str] = typer.Option(None, "--ledger-schema", help="schema of dp_synth_ledger (default: main; Spark: default)"),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_master: str = typer.Option("local[2]", "--spark-master", help="Spark master (local[N], spark://…, yarn) or a Spark Connect URL sc://host:port"),
    spark_conf: Optional[list[str]] = typer.Option(None, "--spark-conf", help="KEY=VALUE Spark setting (repeatable)"),
) -> None:
    """Train a DP generator on TABLE and write its synthetic twin next to it."""
    target_db = _engine_options(engine, db, spark_master, spark_conf)
    try:
        result = _run(db=target_db, table=table, epsilon=epsilon, delta=delta, rows=rows, target=target,
                      seed=seed, spec=str(spec) if spec else None, budget_cap=budget_cap, delta_cap=delta_cap,
                      ledger_schema=ledger_schema)
        _statement(result)
    finally:
        _close(target_db)


DEMO_CAP = 5.0  # total ε the demo may ever spend on main.adult; a rerun with unchanged settings spends nothing


@app.command("demo")
def demo_cmd(
    db: Path = typer.Option(Path("dp_synth_demo.duckdb"), "--db", help="DuckDB file to create/use"),
    epsilon: float = typer.Option(1.0, "--epsilon", help="privacy budget for the demo twin (all demo runs together: ε ≤ 5)"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    report: Path = typer.Option(Path("dp_synth_report.html"), "--report", help="governance report to write"),
) -> None:
    """Load the bundled UCI Adult data into DuckDB, build its twin at ε=1, validate it, write the report."""
    import polars as pl

    from .demo import load_demo_table
    from .engines import open_engine
    from .evaluate import mean_marginal_tvd
    from .io.relation import Relation

    n = _guarded(load_demo_table, str(db))
    out.print(f"loaded main.adult ({n} rows, UCI Adult, CC BY 4.0) into {db}")
    result = _run(db=str(db), table="main.adult", epsilon=epsilon, seed=seed, budget_cap=DEMO_CAP)
    _statement(result)
    with open_engine(str(db), read_only=True) as eng:
        real = pl.from_arrow(eng.read(Relation("main", "adult")))
        twin = pl.from_arrow(eng.read(result.twin))
    out.print("utility (total-variation distance to the real table, 0 = identical; numeric columns in 16 quantile bins):")
    for k in (1, 2, 3):
        out.print(f"  mean {k}-way marginal TVD: {mean_marginal_tvd(real, twin, k=k, max_marginals=200):.3f}")
    out.print(escape(f"query the twin like any table: SELECT income, avg(age) FROM {result.twin} GROUP BY 1"))
    _demo_checks(db, str(result.twin), report)


def _demo_checks(db: Path, twin: str, report: Path) -> None:
    """Validate the demo twin with the GX suites and write the governance report (extras gx, report)."""
    try:
        from .report import build_report
        from .validate import validate
    except ImportError:
        out.print("validation and governance report skipped: pip install 'dp-synth[gx,report]'")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = validate(str(db), twin, target="income", out=db.resolve().parent / "dp_synth_validation")
        verdicts = ", ".join(f"{name} {'passed' if s['success'] else 'FAILED'}" for name, s in checked.suites.items())
        out.print(f"validation (Great Expectations): {verdicts}; data docs: {checked.data_docs}")
        build_report(db, report)
    out.print(f"governance report: {report}")


def _print_validation(result) -> None:
    for name, outcome in result.suites.items():
        mark = "[green]passed[/]" if outcome["success"] else "[red]FAILED[/]"
        out.print(f"{name} suite {mark}: {sum(e['success'] for e in outcome['expectations'])}/"
                  f"{outcome['evaluated']} expectations met" + (f", {len(outcome['skipped'])} skipped" if outcome["skipped"] else ""))
        for e in outcome["expectations"]:
            if not e["success"]:
                out.print(escape(f"  ✗ {e['type']} {e['kwargs']}: observed {json.dumps(e['observed_value'], default=str)[:200]}"
                                 + (f" — {e['error']}" if e["error"] else "")))
            elif isinstance(e["observed_value"], dict) and e["observed_value"].get("verdict") == "inconclusive":
                v = e["observed_value"]
                out.print(escape(f"  ? {v['attack']} attack: risk {v['risk']:.3f}, 95 % interval [{v['ci_low']:.3f}, "
                                 f"{v['ci_high']:.3f}] straddles the limit {e['kwargs'].get('max_risk')}: passed as "
                                 f"inconclusive ({v['targets']} targets; more holdout rows would tell)"))
        for s in outcome["skipped"]:
            out.print(escape(f"  - skipped {s['type']}: {s['reason']}"))
    for note in result.notes:
        out.print(escape(f"  - {note}"))
    out.print(f"twin {result.twin} vs {result.source}; holdout: {escape(result.holdout)}; {result.seconds:.1f} s")
    out.print(f"data docs: {result.data_docs}\nsummary:   {result.summary_path}")


@app.command("validate")
def validate_cmd(
    db: Path = typer.Option(..., "--db", help="DuckDB database file (Spark: warehouse folder)"),
    table: Optional[str] = typer.Option(None, "--table", help="[SCHEMA.]TWIN to validate (default: every twin "
                                                             "in the ledger, with the inputs declared when it was built)"),
    source: Optional[str] = typer.Option(None, "--source", help="[SCHEMA.]TABLE it twins (default: from the ledger)"),
    suite: str = typer.Option("all", "--suite", help="utility, risk or all"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="directory for data_docs/ and the JSON summary "
                                                            "(default dp_synth_validation/ next to the database)"),
    target: Optional[str] = typer.Option(None, "--target", help="column for ML efficacy (train on twin, test on real)"),
    positive: Optional[str] = typer.Option(None, "--positive", help="positive class of --target (default: the rarest class of the twin)"),
    secret: Optional[str] = typer.Option(None, "--secret", help="column the inference attack tries to learn "
                                                                "(default: --target, else the last column)"),
    suites_dir: Optional[Path] = typer.Option(None, "--suites-dir", help="your own utility.json/risk.json"),
    ledger_schema: Optional[str] = typer.Option(None, "--ledger-schema", help="schema of dp_synth_ledger (dbt: the target schema)"),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_master: str = typer.Option("local[2]", "--spark-master", help="Spark master (local[N], spark://…, yarn) or a Spark Connect URL sc://host:port"),
    spark_conf: Optional[list[str]] = typer.Option(None, "--spark-conf", help="KEY=VALUE Spark setting (repeatable)"),
) -> None:
    """Run the GX utility/risk suites on a twin (or every twin); exit 1 when an expectation fails, 2 on bad input."""
    fn = _optional(".validate", "validate_all" if table is None else "validate", "gx")
    target_db = _engine_options(engine, db, spark_master, spark_conf)
    try:
        _validate(fn, target_db, db, table, source, suite, out_dir, target, positive, secret, suites_dir, ledger_schema)
    finally:
        _close(target_db)


def _validate(fn, target_db, db, table, source, suite, out_dir, target, positive, secret, suites_dir, ledger_schema):
    if table is None:
        if source or target or positive or secret:
            _fail("--source/--target/--positive/--secret belong to one twin: add --table, or declare them when the "
                  "twin is built (dbt meta dp_synth: validate: {target: ...})")
        results = _guarded(fn, target_db, suite=suite, out=out_dir,
                           suites_dir=suites_dir, ledger_schema=ledger_schema)
        if not results:
            _fail(f"no twins in the ledger of {str(db)!r}: nothing to validate")
        for twin, result in results.items():
            out.print(f"[bold]{escape(twin)}[/]")
            if isinstance(result, str):
                console.print(f"[red]error:[/] {escape(result)}")
            else:
                _print_validation(result)
        if any(isinstance(r, str) for r in results.values()):
            raise typer.Exit(2)
        if not all(r.success for r in results.values()):
            raise typer.Exit(1)
        return
    result = _guarded(fn, target_db, table, source=source, suite=suite,
                      out=out_dir, target=target, positive=positive, secret=secret, suites_dir=suites_dir,
                      ledger_schema=ledger_schema)
    _print_validation(result)
    if not result.success:
        raise typer.Exit(1)


@app.command("report")
def report_cmd(
    db: Path = typer.Option(..., "--db", help="DuckDB database file (Spark: warehouse folder)"),
    out_html: Path = typer.Option(Path("dp_synth_report.html"), "--out", help="HTML report (one self-contained file)"),
    out_json: Optional[Path] = typer.Option(None, "--json", help="the same figures as JSON, for data catalogs"),
    real_statistics: bool = typer.Option(False, "--real-statistics", help="add exact real distributions and row "
                                         "counts (outside any DP guarantee; the report says so in a banner)"),
    ledger_schema: Optional[str] = typer.Option(None, "--ledger-schema", help="schema of dp_synth_ledger (dbt: the target schema)"),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_master: str = typer.Option("local[2]", "--spark-master", help="Spark master (local[N], spark://…, yarn) or a Spark Connect URL sc://host:port"),
    spark_conf: Optional[list[str]] = typer.Option(None, "--spark-conf", help="KEY=VALUE Spark setting (repeatable)"),
) -> None:
    """Governance report for every twin in the database: sources, budget, model card, utility, risk, checks."""
    build_report = _optional(".report", "build_report", "report")
    target_db = db if engine == "duckdb" else _engine_options(engine, db, spark_master, spark_conf)
    try:
        report = _guarded(build_report, target_db, out_html, out_json, real_statistics, ledger_schema)
    finally:
        if engine != "duckdb":
            _close(target_db)
    for t in report["overview"]["twins"]:
        colour = {"green": "green", "amber": "yellow", "red": "red"}[t["status"]]
        out.print(escape(f"{t['twin']} ← {t['source']}: ") + f"[{colour}]{t['status']}[/]"
                  + escape(f" ({'; '.join(t['reasons']) or 'all checks passed'})"))
    for note in report["overview"]["notes"]:
        out.print(escape(note))
    out.print(f"report: {out_html}" + (f"\njson:   {out_json}" if out_json else ""))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
