"""Settings read from the environment: defaults, and bad values refused before anything runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vein2vein.settings import DEFAULT_WORKFLOW_CACHE, Settings


def test_the_workflow_cache_is_configured_from_the_environment() -> None:
    assert Settings.from_env({}).workflow_cache == DEFAULT_WORKFLOW_CACHE
    assert Settings.from_env({"VEIN2VEIN_WORKFLOW_CACHE": "500"}).workflow_cache == 500


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_workflow_cache_below_one_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="workflow_cache"):
        Settings.from_env({"VEIN2VEIN_WORKFLOW_CACHE": value})


def test_body_limits_are_configured_from_the_environment() -> None:
    default = Settings.from_env({})
    assert (default.max_body_bytes, default.max_event_body_bytes) == (1 << 20, 8 << 20)
    env = {"VEIN2VEIN_MAX_BODY_BYTES": "65536", "VEIN2VEIN_MAX_EVENT_BODY_BYTES": "2097152"}
    assert (Settings.from_env(env).max_body_bytes, Settings.from_env(env).max_event_body_bytes) == (
        65536,
        2097152,
    )
    with pytest.raises(ValidationError, match="max_body_bytes"):
        Settings.from_env({"VEIN2VEIN_MAX_BODY_BYTES": "10"})
