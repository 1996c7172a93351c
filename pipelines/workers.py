"""What the project's code does once in each Python worker process Spark starts.

PySpark's worker daemon runs ``gc.collect()`` after every task of a reused worker. A worker of
this job holds pandas, pyarrow, PySpark, deltalake and VADER's lexicon, about 95,000 objects,
so each collection takes 40-45 ms, after every task: on 2 cores that is about 0.25 s of every
micro-batch, for nothing, since those modules live as long as the worker.
:func:`freeze_setup` moves what a one-time setup left in the heap to the collector's permanent
generation (``gc.freeze``), after which a collection scans only what later tasks allocate.
"""

from __future__ import annotations

import gc
import os

# (pid, setup) pairs already frozen: a forked worker starts with its parent's set but its own pid.
_FROZEN: set[tuple[int, str]] = set()


def freeze_setup(setup: str) -> bool:
    """Freeze the heap once per process after ``setup`` (imports, a scorer's lexicon); whether it did now.

    Only in a reused Python worker (``SPARK_REUSE_WORKER``), not on the driver or in a worker
    that exits after its task. Called after one-time work, never per task: a task's own objects
    frozen would stay until the worker exits. Frozen objects are still freed by reference counting.
    """
    key = (os.getpid(), setup)
    if key in _FROZEN or os.environ.get("SPARK_REUSE_WORKER") != "1":
        return False
    _FROZEN.add(key)
    # Collect first, so garbage already there is freed rather than frozen.
    gc.collect()
    gc.freeze()
    return True
