"""Model files of runs that have not committed yet, and what a killed run leaves behind.

A run takes a *run lock* (``<model>.lock``, an exclusive ``flock`` held for the life of the run,
naming the database, ledger schema and run id) before it saves its model file, and drops it after
its transaction has committed or rolled back. A lock file whose ``flock`` can be taken belongs to a
dead run: :func:`recover` then keeps the model file if the ledger holds that run's row (it
committed before dying) and deletes it otherwise. Live runs' files are never touched, so
concurrent runs and a cleanup never race.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Callable

__all__ = ["RunLock", "recover"]


class RunLock:
    def __init__(self, model_path: Path, database: str, ledger_schema: str, run_id: str, twin: str | None = None):
        self.model_path = Path(model_path)
        self.path = self.model_path.with_name(self.model_path.name + ".lock")
        self._info = {"database": database, "ledger_schema": ledger_schema, "run_id": run_id,
                      "model_path": str(self.model_path), "twin": twin}
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # taken before the content exists: content ⇒ owned
        os.write(self._fd, json.dumps(self._info).encode())
        os.fsync(self._fd)
        return self

    def __exit__(self, kind=None, error=None, tb=None) -> None:
        """Drop the lock file — unless the engine could not clean up after a failure (its session
        died): then the file stays, its flock is released, and the next run recovers the run."""
        try:
            if not getattr(error, "_dp_synth_unclean", False):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def recover(model_dir: Path | None, database: str, committed: Callable[[str, str], bool],
            drop_staging: Callable[[str], None] | None = None) -> list[str]:
    """Resolve the lock files of dead runs on ``database``; returns the model files removed.

    ``committed(ledger_schema, run_id)`` tells whether that run's ledger row exists;
    ``drop_staging(run_id, twin, committed)`` removes what a dead run staged in the database (its temp
    table; on engines without transactions also a twin it published without its ledger row).
    """
    removed: list[str] = []
    if model_dir is None or not Path(model_dir).is_dir():
        return removed
    for lock in sorted(Path(model_dir).glob("*.safetensors.lock")):
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live run holds it
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue  # its owner finished and removed it meanwhile
            try:
                info = json.loads(os.pread(fd, 1 << 16, 0) or b"null")
            except (ValueError, OSError):
                info = None
            if not isinstance(info, dict) or info.get("database") != database:
                continue  # another database's run (or a lock being written): not ours to judge
            done = committed(str(info.get("ledger_schema")), str(info.get("run_id")))
            if drop_staging is not None:
                drop_staging(str(info.get("run_id")), info.get("twin"), done)
            if not done:
                model = Path(str(info.get("model_path")))
                if model.parent.resolve() == Path(model_dir).resolve():
                    model.unlink(missing_ok=True)
                    removed.append(str(model))
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed
