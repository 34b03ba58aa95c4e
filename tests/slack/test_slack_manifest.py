"""slack-app-manifest.yml asks for what the adapter uses: its command, its shortcut, a
scope for every Web API method it calls and the events it listens to."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.slack.handlers import SHORTCUT_CALLBACK
from adapters.slack.platform import COMMAND_PREFIX

REPO = Path(__file__).resolve().parents[2]
MANIFEST = (REPO / "slack-app-manifest.yml").read_text("utf-8")
# Slack's documented scope for each Web API method the adapter may call.
SCOPE_OF = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_create": "channels:manage",
    "conversations_setTopic": "channels:manage",
    "conversations_invite": "channels:manage",
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
    "users_info": "users:read",
    "reactions_add": "reactions:write",
    "reactions_remove": "reactions:write",
    "files_upload_v2": "files:write",
}


def manifest_list(key: str) -> list[str]:
    """The items of a YAML block list under `key:` (comments dropped)."""
    block = re.search(rf"^\s*{key}:\n((?:\s+- .*\n)+)", MANIFEST, re.MULTILINE)
    assert block, f"no `{key}:` list in the manifest"
    return [line.split("#")[0].strip()[2:].strip() for line in block.group(1).splitlines()]


def test_the_manifest_declares_the_command_and_the_shortcut() -> None:
    assert f"- command: {COMMAND_PREFIX}\n" in MANIFEST
    assert f"callback_id: {SHORTCUT_CALLBACK}\n" in MANIFEST
    assert "should_escape: true" in MANIFEST  # mentions must arrive as <@U…>
    assert "socket_mode_enabled: true" in MANIFEST


def test_every_web_api_method_the_adapter_calls_has_its_scope() -> None:
    source = "\n".join(p.read_text("utf-8") for p in (REPO / "adapters" / "slack").glob("*.py"))
    called = set(re.findall(r"_client\.([a-z]+_[A-Za-z0-9_]+)\(", source))
    assert called, "found no Web API calls in adapters/slack"
    unknown = called - SCOPE_OF.keys()
    assert not unknown, f"add the scope of {unknown} to SCOPE_OF and the manifest"
    scopes = set(manifest_list("bot"))
    needed = {SCOPE_OF[method] for method in called} - {None}
    assert needed | {"commands", "reactions:read"} <= scopes


def test_the_manifest_subscribes_to_the_events_the_adapter_handles() -> None:
    events = set(manifest_list("bot_events"))
    assert {"reaction_added", "reaction_removed", "message.channels"} <= events
