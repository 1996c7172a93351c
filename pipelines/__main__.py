"""``python -m pipelines`` is the ``orders-pipeline`` command."""

from __future__ import annotations

import sys

from pipelines.cli import main

sys.exit(main())
