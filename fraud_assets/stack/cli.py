"""`fraud-stack`: the services mode's systems on one machine, started natively.

fraud-stack start    SeaweedFS (S3, buckets), PostgreSQL (databases dagster and mlflow),
                     the MLflow tracking server (PostgreSQL backend, S3 artifacts, registry),
                     a Spark standalone master and worker, dagster-webserver and
                     dagster-daemon on a PostgreSQL instance with the queued run coordinator
fraud-stack status   each service: running or not, its address (exit code 3 when not all run)
fraud-stack env      the exports that point the pipeline at the stack (FRAUD_ENV=services)
fraud-stack stop     stops everything it started, in reverse order
"""

import argparse
import sys

from fraud_assets.settings import Settings
from fraud_assets.stack.core import Stack, StackError


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        stack = Stack(settings)
        if args.command == "start":
            stack.start()
            _print_status(stack)
            print('\nPoint the pipeline at it:  eval "$(uv run fraud-stack env)"')
        elif args.command == "stop":
            stack.stop()
        elif args.command == "status":
            return 0 if _print_status(stack) else 3
        else:
            for name, value in stack.pipeline_environment().items():
                print(f"export {name}={_shell_quote(value)}")
    except (StackError, ValueError) as error:
        print(f"fraud-stack: {error}", file=sys.stderr)
        return 1
    return 0


def _print_status(stack: Stack) -> bool:
    status = stack.status()
    addresses = stack.addresses()
    for name, up in status.items():
        print(f"{name:18} {'running' if up else 'stopped':8} {addresses[name]}")
    return all(status.values())
