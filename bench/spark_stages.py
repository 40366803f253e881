"""Where a Spark application's time went, from its event log: one line per SQL execution (an
action or a write) with its start, its wall time, the task time its stages used, the shuffle
data its tasks wrote and spilled to disk, and its call site (the Python file and line for
actions, the writer for writes).

    uv run python bench/spark_stages.py /tmp/spark-events/local-1234567890
    uv run python bench/spark_stages.py --stages /tmp/spark-events/local-1234567890

With --stages, one line per completed stage instead: what a single execution (one write that
runs every window of the features, say) spends in each of its stages.

The benchmarks write an uncompressed log when given `--event-log DIR` (Spark's
`spark.eventLog.*` settings); any log written with `spark.eventLog.compress=false` reads here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fraud_assets.metadata import markdown_table

_SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
_SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


class EventLogError(ValueError):
    """A file that is not an uncompressed Spark event log."""


@dataclass(frozen=True)
class Execution:
    started_s: float
    wall_s: float
    task_s: float
    shuffle_written_mb: float
    spilled_mb: float
    description: str


@dataclass(frozen=True)
class Stage:
    stage_id: int
    execution: int | None
    wall_s: float
    task_s: float
    tasks: int
    shuffle_read_mb: float
    shuffle_written_mb: float
    spilled_mb: float
    name: str


def event_log_settings(folder: Path) -> dict[str, str]:
    """Spark settings that write an uncompressed event log into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": folder.resolve().as_uri(),
        "spark.eventLog.compress": "false",
    }


def event_logs(folder: Path, application_id: str) -> list[Path]:
    """The event log files of one application under `folder` (Spark 4 writes each
    application's log in a folder of its own, beside an `appstatus` marker)."""
    return sorted(
        path
        for path in folder.rglob(f"*{application_id}*")
        if path.is_file() and not path.name.startswith(("appstatus", "."))
    )


@dataclass
class _Log:
    """What one pass over an event log gathers for both views."""

    sql_starts: dict[int, tuple[int, str]] = field(default_factory=dict)
    sql_ends: dict[int, int] = field(default_factory=dict)
    execution_of_stage: dict[int, int] = field(default_factory=dict)
    # Per stage: task time (ms), tasks, shuffle bytes read and written, bytes spilled.
    stage_totals: dict[int, Counter] = field(default_factory=dict)
    completed: list[dict] = field(default_factory=list)


def _events(log: Path) -> Iterator[dict]:
    with log.open(errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
                event["Event"]
            except (json.JSONDecodeError, TypeError, KeyError):
                raise EventLogError(
                    f"{log}: line {number} is not a Spark event; give the events_* file of an "
                    "application's log written with spark.eventLog.compress=false"
                ) from None
            yield event


def _read(log: Path) -> _Log:
    found = _Log()
    for event in _events(log):
        kind = event["Event"]
        if kind == _SQL_START:
            found.sql_starts[event["executionId"]] = (event["time"], event["description"])
        elif kind == _SQL_END:
            found.sql_ends[event["executionId"]] = event["time"]
        elif kind == "SparkListenerJobStart":
            execution = event.get("Properties", {}).get("spark.sql.execution.id")
            if execution is not None:
                for stage in event["Stage IDs"]:
                    found.execution_of_stage[stage] = int(execution)
        elif kind == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            read = metrics.get("Shuffle Read Metrics") or {}
            written = metrics.get("Shuffle Write Metrics") or {}
            found.stage_totals.setdefault(event["Stage ID"], Counter()).update(
                ms=metrics.get("Executor Run Time", 0),
                tasks=1,
                read=read.get("Remote Bytes Read", 0) + read.get("Local Bytes Read", 0),
                written=written.get("Shuffle Bytes Written", 0),
                spilled=metrics.get("Disk Bytes Spilled", 0),
            )
        elif kind == "SparkListenerStageCompleted":
            found.completed.append(event["Stage Info"])
    return found


def stages(log: Path) -> list[Stage]:
    """The completed stages of one application's event log, in order of their submission."""
    found = _read(log)
    listed = []
    for info in sorted(found.completed, key=lambda info: info.get("Submission Time", 0)):
        stage_id = info["Stage ID"]
        total = found.stage_totals.get(stage_id, Counter())
        listed.append(
            Stage(
                stage_id=stage_id,
                execution=found.execution_of_stage.get(stage_id),
                wall_s=(info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000,
                task_s=total["ms"] / 1000,
                tasks=total["tasks"],
                shuffle_read_mb=total["read"] / 1e6,
                shuffle_written_mb=total["written"] / 1e6,
                spilled_mb=total["spilled"] / 1e6,
                name=info.get("Stage Name", ""),
            )
        )
    return listed


def executions(log: Path) -> list[Execution]:
    """The SQL executions of one application's event log, in order of their start."""
    found = _read(log)
    if not found.sql_starts:
        return []
    per_execution: dict[int | None, Counter] = {}
    for stage, total in found.stage_totals.items():
        per_execution.setdefault(found.execution_of_stage.get(stage), Counter()).update(total)
    first = min(time for time, _ in found.sql_starts.values())
    listed = []
    for execution, (time, description) in sorted(found.sql_starts.items()):
        total = per_execution.get(execution, Counter())
        listed.append(
            Execution(
                started_s=(time - first) / 1000,
                wall_s=(found.sql_ends.get(execution, time) - time) / 1000,
                task_s=total["ms"] / 1000,
                shuffle_written_mb=total["written"] / 1e6,
                spilled_mb=total["spilled"] / 1e6,
                description=description,
            )
        )
    return listed


def table(log: Path, shortest_s: float = 0.3) -> str:
    """A markdown table of the executions that took at least `shortest_s` of wall time."""
    return markdown_table(
        [
            {
                "start (s)": f"{execution.started_s:.1f}",
                "wall (s)": f"{execution.wall_s:.1f}",
                "task time (s)": f"{execution.task_s:.1f}",
                "shuffle written (MB)": f"{execution.shuffle_written_mb:.0f}",
                "spilled to disk (MB)": f"{execution.spilled_mb:.0f}",
                "execution": execution.description,
            }
            for execution in executions(log)
            if execution.wall_s >= shortest_s
        ]
    )


def stage_table(log: Path, shortest_s: float = 0.3) -> str:
    """A markdown table of the stages that took at least `shortest_s` of wall time."""
    return markdown_table(
        [
            {
                "stage": stage.stage_id,
                "execution": "" if stage.execution is None else stage.execution,
                "wall (s)": f"{stage.wall_s:.1f}",
                "task time (s)": f"{stage.task_s:.1f}",
                "tasks": stage.tasks,
                "shuffle read (MB)": f"{stage.shuffle_read_mb:.0f}",
                "shuffle written (MB)": f"{stage.shuffle_written_mb:.0f}",
                "spilled to disk (MB)": f"{stage.spilled_mb:.0f}",
                "call site": stage.name,
            }
            for stage in stages(log)
            if stage.wall_s >= shortest_s
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log", type=Path, help="an application's event log file")
    parser.add_argument("--shortest", type=float, default=0.3, help="seconds of wall time")
    parser.add_argument("--stages", action="store_true", help="one line per stage")
    args = parser.parse_args()
    try:
        print((stage_table if args.stages else table)(args.log, args.shortest))
    except EventLogError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
