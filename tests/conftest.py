import os
import sys
import warnings

# pytest-xdist's workers run under a bare ``__main__`` (no ``__file__``, no ``__spec__``); pyspark's Connect
# check (imported by Great Expectations) takes that for a doctest run and calls sys.exit(0) without grpc
_main = sys.modules.get("__main__")
if _main is not None and getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"
if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker per core: one thread each, for the worker and the processes
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the tests start too (CLI, dbt, Spark's Python workers)

import pyarrow as pa
import pytest

from helpers import mixed_table


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="torch")
        warnings.filterwarnings("ignore", message=".*backward hook.*")
        yield


@pytest.fixture
def mixed() -> pa.Table:
    return mixed_table()


@pytest.fixture(scope="session")
def spark_engine(tmp_path_factory):
    """One local Spark session (local[2], loopback) for the whole run: Spark allows one per process."""
    pytest.importorskip("pyspark", reason="the Spark engine's tests need pip install 'dp-synth[spark]'")
    from dp_synth.engines.spark import SparkEngine

    eng = SparkEngine.open(tmp_path_factory.mktemp("spark_warehouse"))
    yield eng
    eng.close()
