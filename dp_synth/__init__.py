"""dp-synth: differentially private synthetic twins of warehouse tables.

>>> import dp_synth
>>> sorted(dp_synth.__all__)[:3]
['ArtifactError', 'BudgetExceededError', 'DPSynthError']
"""

__version__ = "0.1.0"

from .errors import ArtifactError, BudgetExceededError, DPSynthError, InputError  # noqa: E402
from .spec import ColumnSpec, Kind, Role, TableSpec  # noqa: E402
from .privacy import PrivacyStatement  # noqa: E402
from .training import TrainingConfig  # noqa: E402
from .model import SynthModel  # noqa: E402
from .fit import fit  # noqa: E402

__all__ = ["__version__", "fit", "synthesize", "SynthModel", "TableSpec", "ColumnSpec", "Kind", "Role",
           "PrivacyStatement", "TrainingConfig", "DPSynthError", "InputError", "BudgetExceededError",
           "ArtifactError"]


def synthesize(*args, **kwargs):
    """Build a synthetic twin of a warehouse table (DuckDB or Spark); see :func:`dp_synth.runtime.synthesize`."""
    from .runtime import synthesize as _synthesize

    return _synthesize(*args, **kwargs)
