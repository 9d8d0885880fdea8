"""The README's main job with the real offline model: Qwen2.5-Coder-1.5B (llama-cpp-python, the `local` extra)
answers the demo question end to end on the demo warehouse. CI installs the extra, so under CI=true this fails when
it is missing; locally it skips. Slow on a shared 2-core machine (minutes), hence the generous timeout."""

from __future__ import annotations

import json
from typing import Iterator

import duckdb
import pytest

from runtime import RunStatus
from store import metrics
from tests.tasks.analyst_agent.agent_harness import QUESTION, AgentWorld, ask_and_wait, build_world
from tests.tasks.analyst_agent.test_llm_local_server import require_local_extra

RUN_TIMEOUT_S = 1500


@pytest.fixture(scope="module")
def offline_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentWorld]:
    require_local_extra()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TASKPACK_MODEL"):
            patch.delenv(name, raising=False)  # no endpoint: the offline model
        yield from build_world(tmp_path_factory.mktemp("agent-offline"))


@pytest.mark.local_model
@pytest.mark.timeout(RUN_TIMEOUT_S + 300)
def test_the_offline_model_answers_the_demo_question_with_the_right_channel(offline_world: AgentWorld) -> None:
    best, _ = offline_world.best_channel()
    run = ask_and_wait(offline_world, QUESTION, timeout=RUN_TIMEOUT_S, chat_id="chat-offline")
    assert run.status is RunStatus.COMPLETED, run.error
    out = run.output
    print(json.dumps({k: out[k] for k in ("answer", "sql_queries", "metrics", "usage", "review", "states")}, indent=1))
    assert [s["name"] for s in out["states"]][:5] == ["initializing", "searching", "planning", "analyzing", "reviewing"]
    assert best.lower() in out["answer"].lower(), out
    # the main query really found it: its first row is the best channel of 2025 Q2
    main = next(q for q in out["sql_queries"] if q["purpose"] == "main" and q["ok"])
    with duckdb.connect(str(offline_world.warehouse), read_only=True) as conn:
        rows = conn.execute(main["sql"]).fetchall()
    assert rows and best in [str(v) for v in rows[0]], (main["sql"], rows[:3])
    assert out["usage"]["model_calls"] >= 3 and out["usage"]["seconds_in_model"] > 0
    for metric in out["metrics"]:
        assert metrics.get_metric(metric["id"], database_url=offline_world.url).run_id == run.id
