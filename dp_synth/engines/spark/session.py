"""Starting Spark: a local session bound to loopback, or a cluster / Spark Connect session.

A local session (``local[2]`` by default) keeps its tables in a warehouse folder with a Derby
metastore inside it, so a later session on the same folder sees them. Every local session binds
the driver to 127.0.0.1 (``SPARK_LOCAL_IP``, ``spark.driver.host``/``bindAddress``) — Spark would
otherwise pick the host name's interface — and runs its Python workers with this interpreter.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

from ...errors import InputError

__all__ = ["require_spark", "local_session", "LOOPBACK"]

LOOPBACK = "127.0.0.1"


def require_spark() -> None:
    """pyspark and a Java runtime, or one line saying what to install (nothing else is done)."""
    if importlib.util.find_spec("pyspark") is None:
        raise InputError("the Spark engine needs pyspark: pip install 'dp-synth[spark]' (and Java 17, e.g. "
                         "apt-get install openjdk-17-jre-headless)")
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise InputError("the Spark engine needs a Java runtime (17): apt-get install openjdk-17-jre-headless, "
                         "or set JAVA_HOME")


def loopback_env() -> None:
    """What every local session needs before its JVM starts."""
    os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


def local_session(warehouse: str | Path, master: str = "local[2]", conf: Mapping[str, str] | None = None):
    """A SparkSession on ``master`` keeping tables in ``warehouse`` (local folder, Hive catalog).

    ``master`` ``sc://host:port`` opens a Spark Connect session instead (needs ``pyspark[connect]``);
    ``spark://…``/``yarn`` a cluster session (then ``warehouse`` is the cluster's business).
    """
    require_spark()
    from pyspark.sql import SparkSession

    if str(master).startswith("sc://"):
        builder = SparkSession.builder.remote(master)
        for k, v in (conf or {}).items():
            builder = builder.config(k, v)
        return builder.getOrCreate()
    loopback_env()
    wh = Path(warehouse).resolve()
    wh.mkdir(parents=True, exist_ok=True)
    builder = (SparkSession.builder.master(master).appName("dp-synth")
               .config("spark.driver.host", LOOPBACK).config("spark.driver.bindAddress", LOOPBACK)
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.warehouse.dir", str(wh))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
               .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                       f"jdbc:derby:;databaseName={wh / 'metastore_db'};create=true")
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={wh}")
               .enableHiveSupport())
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - the JVM's reasons are many; say it in one line
        raise InputError(f"a local Spark session could not start ({str(e).splitlines()[0][:300]}); check Java 17 "
                         "(apt-get install openjdk-17-jre-headless) and that no other process holds the "
                         f"warehouse {str(wh)!r} (its Derby metastore allows one process)") from None
    session.sparkContext.setLogLevel("ERROR")
    return session
