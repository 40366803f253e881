"""A run as Dagster's code server starts it: a `spawn` child of a process whose `__main__` has
no file, that imports pyspark's Connect modules (as MLflow does when it logs a Spark model)."""

import multiprocessing
import sys


def _child(queue, prepare: bool) -> None:
    if prepare:
        from fraud_assets.resources.spark import import_spark_connect_in_spawned_runs

        import_spark_connect_in_spawned_runs()
    try:
        import pyspark.ml.connect  # noqa: F401
    except ImportError:
        queue.put("ImportError")  # what MLflow expects without Connect's dependencies
    else:
        queue.put("imported")


def main() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue, sys.argv[1] == "prepared"))
    child.start()
    child.join()
    print(queue.get(timeout=10) if not queue.empty() else "ended silently")
