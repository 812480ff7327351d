"""Runtimes that read sources and write twins: DuckDB (embedded default)."""
