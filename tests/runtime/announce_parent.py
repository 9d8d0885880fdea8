"""The parent of test_child_wakeup.py's cross-process case: triggers `announce-child` (executed by a worker of another
process, tests/runtime/announce_tasks.py) and times how soon `runs.wait` sees each child finished."""

from __future__ import annotations

import time
from typing import Any

from runtime import runs, task, tasks


@task(id="announce-parent", max_duration=120)
def announce_parent(payload: dict, ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    lags = []
    for seconds in payload["rounds"]:
        child = runs.wait(tasks.trigger("announce-child", {"seconds": seconds}).id, timeout=60)
        lags.append(time.time() - child.output)
    return {"lags": lags}
