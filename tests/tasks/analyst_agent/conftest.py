"""Fixtures for the analyst agent's tests: the scripted model (a real OpenAI-format HTTP server on 127.0.0.1)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.tasks.analyst_agent.scripted_model import ScriptedModel


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModel]:
    """A started scripted model with an empty script (`scripted_model.add(...)` the answers); stopped afterwards."""
    model = ScriptedModel().start()
    try:
        yield model
    finally:
        model.stop()
