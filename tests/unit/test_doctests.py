"""The runnable examples in the package's docstrings: every module's doctests pass (the Spark engine's
modules hold no examples and are left out, so this test does not load pyspark)."""

import doctest
import importlib
import pkgutil

import pytest

import dp_synth

MODULES = sorted(m.name for m in pkgutil.walk_packages(dp_synth.__path__, "dp_synth.")
                 if ".engines.spark" not in m.name and not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
