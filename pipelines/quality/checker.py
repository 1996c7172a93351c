"""Runs the suites with Great Expectations on pandas, one table's candidate rows at a time.

The GX context, data source and suites are built once per job (:class:`QualityChecker`); each
check turns an Arrow table (the columns the suite reads plus ``event_id``) into pandas on the
driver and validates it. Pandas was chosen by measurement over GX's Spark engine, which runs one
or more Spark jobs per expectation (docs/quality.md has the figures). Row-level expectations
(column, column-pair and multicolumn map expectations) report the ``event_id`` of every row they
reject; table-level ones (row counts, means, ...) only give a result for the table.

With the ``auto`` engine (the default), a suite whose every expectation
:mod:`pipelines.quality.arrow_engine` evaluates is checked there instead, on the Arrow rows,
with the same results in a tenth to an eightieth of the time.
"""

from __future__ import annotations

import json
import logging
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipelines.quality.suites import Expectation, Suite, expectation_name, load_suites
from pipelines.settings import QualityEngine

if TYPE_CHECKING:
    from pipelines.aws.clients import AwsEndpoint
    from pipelines.settings import QualitySettings

log = logging.getLogger(__name__)

KEY = "event_id"
REASON_PREFIX = "expectation:"


class QualityError(RuntimeError):
    """An expectation could not be evaluated (GX raised): the data is neither passed nor failed."""


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one set of rows."""

    expectation: Expectation
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: str | None = None


@dataclass(frozen=True)
class TableResult:
    """A suite's results on one table's rows; ``failures``: event_id -> names of the expectations it failed."""

    table: str
    rows: int
    outcomes: tuple[Outcome, ...]
    failures: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]


def quarantine_reason(name: str) -> str:
    """The quarantine reason of a row failing the expectation ``name``."""
    return REASON_PREFIX + name


def _gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory, no usage statistics sent, no progress bars in the job's log.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, sort_keys=True)


def _exception_message(info: Any) -> str | None:
    """The error GX caught while evaluating an expectation, if any (flat, or one entry per metric)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info["raised_exception"] else None
    for entry in info.values():
        message = _exception_message(entry)
        if message is not None:
            return message
    return None


def _count(result: dict[str, Any], name: str) -> int | None:
    value = result.get(name)
    return None if value is None else int(value)


ENGINES: tuple[str, ...] = typing.get_args(QualityEngine)


class QualityChecker:
    """The suites of a job with their GX context: built once, then :meth:`check` per table and batch.

    ``engine``: ``auto`` checks a suite on Arrow when every expectation in it is one the Arrow
    engine evaluates, else with GX; ``gx`` always uses GX.
    """

    def __init__(self, suites: dict[str, Suite], engine: str = "auto") -> None:
        from pipelines.lake import arrow_schema
        from pipelines.quality.arrow_engine import ArrowSuite, compile_suite
        from pipelines.schemas import TABLES

        if engine not in ENGINES:
            raise ValueError(f"quality engine {engine!r}: expected one of {', '.join(ENGINES)}")
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.suites = dict(suites)
        self._arrow: dict[str, ArrowSuite] = {}
        if engine == "auto":
            for table, suite in self.suites.items():
                compiled = compile_suite(suite, arrow_schema(TABLES[table]))
                if compiled is not None:
                    self._arrow[table] = compiled
        self._context = _gx_context()
        source = self._context.data_sources.add_pandas("orders_pipeline")
        self._batches: dict[str, Any] = {}
        self._gx_suites: dict[str, Any] = {}
        for table, suite in self.suites.items():
            asset = source.add_dataframe_asset(table.replace("/", "_"))
            self._batches[table] = asset.add_batch_definition_whole_dataframe("rows")
            self._gx_suites[table] = self._context.suites.add(suite.gx_suite)

    @classmethod
    def from_folder(cls, folder: str, endpoint: AwsEndpoint | None = None, engine: str = "auto") -> QualityChecker:
        return cls(load_suites(folder, endpoint), engine)

    @classmethod
    def from_settings(cls, settings: QualitySettings, endpoint: AwsEndpoint | None = None) -> QualityChecker:
        return cls.from_folder(settings.suites, endpoint, settings.engine)

    def engine(self, table: str) -> str:
        """What checks ``table``'s suite: ``arrow`` or ``gx``."""
        return "arrow" if table in self._arrow else "gx"

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.suites)

    def columns(self, table: str) -> list[str]:
        """The columns a check of ``table`` needs: ``event_id`` and those its suite reads."""
        return [KEY, *(c for c in self.suites[table].columns if c != KEY)]

    def check(self, table: str, rows: pa.Table) -> TableResult:
        """Validate ``rows`` (at least :meth:`columns`) against ``table``'s suite.

        An expectation with ``meta.quarantine: false`` is reported but rejects no row. GX runs
        with its counts only (``BASIC``, half the time of ``COMPLETE``); only when a quarantining
        expectation has unexpected rows does it run again listing their event_ids. A suite the
        Arrow engine took skips GX altogether.
        """
        compiled = self._arrow.get(table)
        if compiled is not None:
            return compiled.check(rows.select(self.columns(table)))
        frame = rows.select(self.columns(table)).to_pandas()
        counted = self.check_frame(table, frame, complete=False)
        if not any(outcome.unexpected_count and outcome.expectation.quarantines_rows for outcome in counted.outcomes):
            return counted
        return self.check_frame(table, frame, complete=True)

    def check_frame(self, table: str, frame: Any, *, complete: bool = True) -> TableResult:
        """:meth:`check` on a pandas ``frame``; ``complete``: list the rows each expectation rejects."""
        suite = self.suites[table]
        batch = self._batches[table].get_batch(batch_parameters={"dataframe": frame})
        result_format: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
        if complete:
            result_format = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [KEY],
                "return_unexpected_index_query": False,
                "partial_unexpected_count": 0,
            }
        validation = batch.validate(self._gx_suites[table], result_format=result_format)
        by_name = {expectation.name: expectation for expectation in suite.expectations}
        outcomes: list[Outcome] = []
        failures: dict[str, set[str]] = {}
        for result in validation.results:
            config = result.expectation_config
            expectation = by_name[expectation_name(config.type, dict(config.kwargs), config.meta)]
            error = _exception_message(result.exception_info)
            if error is not None:
                raise QualityError(f"{suite.source}: {expectation.name} could not be evaluated on {table}: {error}")
            details = dict(result.result or {})
            outcomes.append(
                Outcome(
                    expectation,
                    bool(result.success),
                    element_count=_count(details, "element_count") if expectation.row_level else len(frame),
                    unexpected_count=_count(details, "unexpected_count"),
                    missing_count=_count(details, "missing_count"),
                    unexpected_percent=details.get("unexpected_percent"),
                    observed_value=_json_text(details.get("observed_value")),
                )
            )
            if expectation.quarantines_rows:
                for index in details.get("unexpected_index_list") or ():
                    key = index.get(KEY) if isinstance(index, dict) else None
                    if key is not None:
                        failures.setdefault(str(key), set()).add(expectation.name)
        order = {expectation.name: position for position, expectation in enumerate(suite.expectations)}
        outcomes.sort(key=lambda outcome: order[outcome.expectation.name])
        return TableResult(
            table,
            len(frame),
            tuple(outcomes),
            {key: tuple(sorted(names)) for key, names in sorted(failures.items())},
        )
