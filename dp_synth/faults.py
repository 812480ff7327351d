"""Named kill points for fault-injection tests.

``DP_SYNTH_KILL_AT=<point>`` makes the process die at once (``os._exit``, no cleanup, no
``finally``: what a SIGKILL or a lost machine does) when a run reaches ``point``. Unset, a call
costs one dictionary lookup. Points, in run order: ``before_measure``, ``during_training``,
``after_model_save``, ``during_insert``, ``after_rename``, ``after_ledger_append``,
``after_commit``.
"""

from __future__ import annotations

import os

__all__ = ["POINTS", "kill_point"]

POINTS = ("before_measure", "during_training", "after_model_save", "during_insert", "after_rename",
          "after_ledger_append", "after_commit")


def kill_point(name: str) -> None:
    if os.environ.get("DP_SYNTH_KILL_AT") == name:
        os._exit(137)
