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
