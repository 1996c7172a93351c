"""`orders-pipeline query`: run Athena-dialect SQL (inline, from a file or a named query) on the lake."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines.athena import AthenaError, ddl, named_queries, named_query
from pipelines.settings import Settings


def _sql(args: argparse.Namespace) -> str:
    from pipelines.cli import CommandError

    given = [name for name in ("sql", "file", "named") if getattr(args, name, None)]
    if len(given) != 1:
        raise CommandError("give exactly one of: SQL, --file FILE, --named NAME (or --list, --ddl)")
    if args.file:
        path = Path(args.file)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    if args.named:
        return named_query(args.named).sql
    return str(args.sql)


def run_query_command(settings: Settings, args: argparse.Namespace) -> int:
    """The `query` command: prints the result (or the named queries, or the DDL); returns the exit code."""
    from pipelines.athena.local import LocalAthena, QueryError, format_result
    from pipelines.cli import CommandError
    from pipelines.duckdb_engine import DuckDBDeltaUnavailableError
    from pipelines.lake import Lake

    try:
        if args.list:
            queries = named_queries()
            width = max(len(query.name) for query in queries)
            for query in queries:
                print(f"{query.name:<{width}}  {query.description}")
            return 0
        if args.ddl:
            print(";\n\n".join(ddl(settings.lake.root, settings.athena.database)) + ";")
            return 0
        sql = _sql(args)
        with LocalAthena(Lake.from_settings(settings.lake), settings.athena.database) as engine:
            result = engine.run(sql)
    except (AthenaError, DuckDBDeltaUnavailableError, QueryError) as exc:
        raise CommandError(str(exc)) from None
    try:
        print(format_result(result, args.format), flush=True)
    except BrokenPipeError:
        # The reader stopped early (`| head`): not an error of the query.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
