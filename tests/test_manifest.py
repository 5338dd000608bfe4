"""manifest.yml is a valid Slack app manifest that asks for what the bot uses and no more."""

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "slack"

EVENTS_URL = "https://example.com/slack/events"
# /orchestrate, chat.* and views.*, thread replies to prompts, reminders by DM, the chart.
BOT_SCOPES = {"commands", "chat:write", "channels:history", "groups:history", "im:write", "files:write", "users:read"}

# Both schema files describe the same v1-style top-level sections
# (display_information, features, oauth_config, settings) with identical
# definitions; 2.0.0 differs only in the Deno-platform parts (functions,
# workflows, datastores, types, external_auth_providers), and neither pins
# _metadata.major_version. So 2.0.0 is a newer revision of the schema, not a
# schema for major_version 2 manifests only, and it validates this manifest too.
SCHEMA_FILES = ["manifest.schema.1.0.0.json", "manifest.schema.2.0.0.json"]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def load_validator(name: str):
    if not SCHEMAS.is_dir():
        pytest.skip(f"Slack manifest schemas not found at {SCHEMAS} (shared/ must sit beside the checkout)")
    schema = json.loads((SCHEMAS / name).read_text())
    # The class the schema's "$schema" declares (draft-07); every $ref is
    # local ("#/definitions/..."), so validation never goes online.
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("schema_name", SCHEMA_FILES)
def test_manifest_matches_slack_schema(manifest, schema_name):
    errors = sorted(load_validator(schema_name).iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


@pytest.mark.parametrize("schema_name", SCHEMA_FILES)
def test_schema_rejects_a_misspelt_key(manifest, schema_name):
    # Guards against a vacuous check: the schema does forbid unknown keys.
    broken = copy.deepcopy(manifest)
    broken["settings"]["socket_mode"] = True
    assert not load_validator(schema_name).is_valid(broken)


def test_manifest_is_major_version_1(manifest):
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}


def test_background_color_is_hex(manifest):
    # The schemas give this pattern under "regex", which JSON Schema ignores.
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", manifest["display_information"]["background_color"])


def test_bot_identity_and_home_tab(manifest):
    assert manifest["display_information"]["name"] == "orchestrate"
    assert manifest["features"]["bot_user"] == {"display_name": "orchestrate", "always_online": True}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is False
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_declares_the_orchestrate_command(manifest):
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/orchestrate"
    assert command["usage_hint"] == "status | pause STREAM | validate --checkpoint CP | help"
    assert command["should_escape"] is False
    assert command["url"] == EVENTS_URL


def test_interactivity_and_socket_mode(manifest):
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["event_subscriptions"] == {
        "request_url": EVENTS_URL,
        # bot/home.py listens to app_home_opened; bot/sync_listeners.py to thread replies
        "bot_events": ["app_home_opened", "message.channels", "message.groups"],
    }


def test_bot_scopes_are_exactly_what_the_bot_uses(manifest):
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "no user scopes: the bot acts only as itself"
    assert len(scopes["bot"]) == len(set(scopes["bot"])), "duplicate scope"
    assert set(scopes["bot"]) == BOT_SCOPES
