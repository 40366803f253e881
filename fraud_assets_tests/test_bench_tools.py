"""bench/spark_stages.py: a Spark event log read into one row per SQL execution or per stage,
and a file that is not one refused with a message that says which file to give."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).parents[1] / "bench" / "spark_stages.py"
_SPEC = importlib.util.spec_from_file_location("spark_stages", _PATH)
spark_stages = importlib.util.module_from_spec(_SPEC)
# Registered first: its dataclasses look their module up by name.
sys.modules.setdefault("spark_stages", spark_stages)
_SPEC.loader.exec_module(spark_stages)

_SQL = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecution"


def _log(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def _execution(number: int, start_ms: int, end_ms: int, description: str, tasks_ms: list[int]):
    stage = 10 + number
    return [
        {
            "Event": f"{_SQL}Start",
            "executionId": number,
            "time": start_ms,
            "description": description,
        },
        {
            "Event": "SparkListenerJobStart",
            "Stage IDs": [stage],
            "Properties": {"spark.sql.execution.id": str(number)},
        },
        *[
            {
                "Event": "SparkListenerTaskEnd",
                "Stage ID": stage,
                "Task Metrics": {
                    "Executor Run Time": ms,
                    "Shuffle Write Metrics": {"Shuffle Bytes Written": ms * 1000},
                    "Disk Bytes Spilled": 500_000 if ms > 6_000 else 0,
                },
            }
            for ms in tasks_ms
        ],
        {"Event": f"{_SQL}End", "executionId": number, "time": end_ms},
    ]


def test_each_execution_gets_its_wall_and_task_time(tmp_path):
    log = _log(
        tmp_path / "events_1_local-1",
        [
            {"Event": "SparkListenerApplicationStart"},
            *_execution(0, 1_000, 3_500, "collect at landing.py:61", [1_200, 1_300]),
            *_execution(1, 4_000, 4_100, "count at assets.py:9", [90]),
            *_execution(2, 5_000, 12_000, "parquet | raw", [6_000, 6_500]),
        ],
    )
    found = spark_stages.executions(log)
    assert [(e.started_s, e.wall_s, e.task_s) for e in found] == [
        (0.0, 2.5, 2.5),
        (3.0, 0.1, 0.09),
        (4.0, 7.0, 12.5),
    ]
    assert [(e.shuffle_written_mb, e.spilled_mb) for e in found] == [
        (2.5, 0.0),
        (0.09, 0.0),
        (12.5, 0.5),
    ]
    shown = spark_stages.table(log, shortest_s=0.3).splitlines()
    assert len(shown) == 4  # header, rule, and the two executions of at least 0.3 s
    assert "collect at landing.py:61" in shown[2]
    assert "parquet \\| raw" in shown[3]  # a pipe in a call site does not split the row


def test_each_stage_gets_its_wall_time_tasks_and_shuffle(tmp_path):
    completed = {
        "Event": "SparkListenerStageCompleted",
        "Stage Info": {
            "Stage ID": 12,
            "Stage Name": "parquet at NativeMethodAccessorImpl.java:0",
            "Submission Time": 5_000,
            "Completion Time": 11_500,
        },
    }
    read = {"Shuffle Read Metrics": {"Remote Bytes Read": 0, "Local Bytes Read": 4_000_000}}
    log = _log(
        tmp_path / "events_1_local-2",
        [
            *_execution(2, 5_000, 12_000, "parquet | raw", [6_000, 6_500])[:-1],
            {
                "Event": "SparkListenerTaskEnd",
                "Stage ID": 12,
                "Task Metrics": {"Executor Run Time": 500, **read},
            },
            completed,
        ],
    )
    [stage] = spark_stages.stages(log)
    assert (stage.stage_id, stage.execution, stage.wall_s, stage.tasks) == (12, 2, 6.5, 3)
    assert (stage.task_s, stage.shuffle_read_mb, stage.shuffle_written_mb) == (13.0, 4.0, 12.5)
    assert stage.spilled_mb == 0.5
    shown = spark_stages.stage_table(log).splitlines()
    assert len(shown) == 3 and "parquet at NativeMethodAccessorImpl" in shown[2]


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01 binary checksum\xff", b'{"Event": "SparkListenerApplicationStart"}\n[1, 2]\n'],
)
def test_a_file_that_is_not_an_event_log_is_refused_by_name(tmp_path, content):
    path = tmp_path / ".appstatus_local-1.crc"
    path.write_bytes(content)
    with pytest.raises(spark_stages.EventLogError, match=r"appstatus_local-1\.crc: line \d"):
        spark_stages.executions(path)
