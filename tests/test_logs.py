from __future__ import annotations

import logging

from pipelines.logs import QUIET, configure_logging


def test_chatty_libraries_are_quieted_to_warnings() -> None:
    configure_logging()
    assert {name: logging.getLogger(name).level for name in QUIET} == dict.fromkeys(QUIET, logging.WARNING)
    assert "great_expectations" in QUIET  # it logs hundreds of INFO lines at import
