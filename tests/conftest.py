import warnings

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
