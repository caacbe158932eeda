"""The settings of the analytics engine (area "analytics"): which engine runs the heavy
computations and where a Spark engine finds its cluster."""

from __future__ import annotations

from ..settings import Setting, one_of

AREA = "analytics"
ENGINES: tuple[str, ...] = ("duckdb", "spark")


def _master(value: str) -> str:
    text = value.strip()
    if not text or not (text.startswith(("local", "spark://", "sc://", "yarn", "k8s://", "mesos://"))):
        raise ValueError("local, local[N], local[*], spark://HOST:PORT, yarn, k8s://URL or a Spark Connect URL sc://HOST:PORT")
    return text


ANALYTICS_ENGINE = Setting(
    "analytics_engine", "duckdb",
    "The engine that runs the heavy analytics (price index cells, price book, check facts, intelligence box facts): duckdb (the store's own engine and "
    "numpy, in this process) or spark (a Spark session at spark_master; needs the `spark` extra and Java).",
    AREA, one_of(*ENGINES))
SPARK_MASTER = Setting(
    "spark_master", "local[*]",
    "Where the spark engine runs: local[*] (a Spark inside this process's machine), spark://HOST:PORT, yarn, "
    "k8s://URL, or a Spark Connect server as sc://HOST:PORT.", AREA, _master)
SPARK_SNAPSHOT = Setting(
    "spark_snapshot", "",
    "A directory of Parquet snapshots of the store's tables (`roughtrace export parquet DIR`) that the spark engine "
    "reads instead of taking the tables through the store; it must be readable by the cluster. Empty: the tables go "
    "through the store.", AREA)

SETTINGS: tuple[Setting, ...] = (ANALYTICS_ENGINE, SPARK_MASTER, SPARK_SNAPSHOT)
