"""An embedded DuckDB that reads the lake's Delta tables with its own Delta reader (delta-kernel-rs).

It is an engine independent of delta-rs, so it doubles as a check that the tables are standard
Delta tables, and it is the engine behind Athena-dialect queries run locally. The Delta
extension comes from the ``duckdb-ext-delta`` wheel (nothing is downloaded); DuckDB loads it as
an unsigned extension.
"""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path
from typing import Any

_PLATFORMS = {
    ("Linux", "x86_64"): "linux_amd64",
    ("Linux", "aarch64"): "linux_arm64",
    ("Darwin", "arm64"): "osx_arm64",
    ("Darwin", "x86_64"): "osx_amd64",
}


class DuckDBDeltaUnavailableError(RuntimeError):
    """DuckDB or its Delta extension wheel is not installed for this platform and version."""


def delta_extension_path() -> Path:
    """The Delta extension file shipped by the ``duckdb-ext-delta`` wheel for the installed DuckDB."""
    try:
        import duckdb
    except ImportError as exc:
        raise DuckDBDeltaUnavailableError("DuckDB is not installed: pip install -e '.[local]'") from exc
    system = _PLATFORMS.get((platform.system(), platform.machine()))
    if system is None:
        raise DuckDBDeltaUnavailableError(f"no DuckDB Delta extension for {platform.system()} {platform.machine()}")
    path = (
        Path(sysconfig.get_paths()["purelib"])
        / "duckdb_ext"
        / "extensions"
        / f"v{duckdb.__version__}"
        / system
        / "delta.duckdb_extension"
    )
    if not path.exists():
        raise DuckDBDeltaUnavailableError(
            f"{path} not found: install the duckdb-ext-delta wheel matching duckdb {duckdb.__version__}"
        )
    return path


def connect() -> Any:
    """An in-memory DuckDB connection with the Delta extension loaded (``delta_scan('<table uri>')``)."""
    import duckdb

    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    connection.execute(f"LOAD '{delta_extension_path()}'")
    return connection
