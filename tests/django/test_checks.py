"""System checks of the WORKFLOWS settings: one test per check id."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from workflows_app.checks import check_workflows_settings
from workflows_app.conf import DEFAULTS, workflow_settings


def ids(**settings: Any) -> list[str]:
    with override_settings(WORKFLOWS=settings):
        return [message.id or "" for message in check_workflows_settings()]


def test_the_default_settings_pass() -> None:
    assert ids() == []


def test_e001_unknown_engine() -> None:
    assert ids(ENGINE="celery") == ["workflows_app.E001"]


def test_e002_storage_that_cannot_be_imported() -> None:
    assert ids(STORAGE="nowhere.Storage") == ["workflows_app.E002"]


def test_e003_storage_that_is_not_a_storage() -> None:
    assert ids(STORAGE="collections.OrderedDict") == ["workflows_app.E003"]


def test_e004_evented_engine_without_channels() -> None:
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "workflows_app"]
    with override_settings(INSTALLED_APPS=apps):
        assert ids(ENGINE="evented") == ["workflows_app.E004"]


def test_e005_module_that_cannot_be_imported() -> None:
    assert ids(MODULES=["no.such.module"]) == ["workflows_app.E005"]


def test_settings_fall_back_to_documented_defaults_and_follow_overrides() -> None:
    assert DEFAULTS["LEASE_SECONDS"] == workflow_settings.LEASE_SECONDS
    with override_settings(WORKFLOWS={"LEASE_SECONDS": 5}):
        assert workflow_settings.LEASE_SECONDS == 5
        assert workflow_settings.ENGINE == "default"
    assert DEFAULTS["LEASE_SECONDS"] == workflow_settings.LEASE_SECONDS


def test_w001_redis_layer_that_can_time_out_during_a_blocking_receive() -> None:
    backend = "channels_redis.core.RedisChannelLayer"
    short = {"default": {"BACKEND": backend, "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]}}}
    long = {
        "default": {"BACKEND": backend, "CONFIG": {"hosts": [{"address": "redis://x", "socket_timeout": 30}]}}
    }
    with override_settings(CHANNEL_LAYERS=short):
        assert ids() == ["workflows_app.W001"]
    with override_settings(CHANNEL_LAYERS=long):
        assert ids() == []


def test_e006_start_rate_limit_that_is_not_a_rate() -> None:
    assert ids(START_RATE_LIMIT="lots") == ["workflows_app.E006"]
    assert ids(START_RATE_LIMIT="0/hour") == ["workflows_app.E006"]
    assert ids(START_RATE_LIMIT="100/hour") == []


def test_e007_loop_cap_that_is_not_a_positive_integer() -> None:
    assert ids(MAX_LOOP_ITERATIONS=0) == ["workflows_app.E007"]
    assert ids(MAX_LOOP_ITERATIONS="10") == ["workflows_app.E007"]
    assert ids(MAX_LOOP_ITERATIONS=10) == []
