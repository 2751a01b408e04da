"""The ``/notify`` body (spec: Push Gateway API; Client-Server API, "Actions"), pure."""

from myelin.services.push_gateway.notification import (
    EventDescription,
    event_notification,
    priority,
    tweaks_for_actions,
)
from myelin.storage.push_rules import PusherRecord

PUSHER = PusherRecord(
    user_id="@alice:example.org",
    app_id="org.example.app",
    pushkey="key",
    kind="http",
    app_display_name="App",
    device_display_name="Phone",
    profile_tag=None,
    lang="en",
    data={"url": "https://push.example.org/_matrix/push/v1/notify"},
    device_id="DEV",
    created_ts=1_700_000_123_456,
)


def test_tweaks_and_priority() -> None:
    actions = ["notify", {"set_tweak": "highlight"}, {"set_tweak": "sound", "value": "ping"}]
    assert tweaks_for_actions(actions) == {"highlight": True, "sound": "ping"}
    assert tweaks_for_actions(["notify", "dont_notify", {"other": 1}]) == {}
    assert priority("m.room.message", {}) == "low"
    assert priority("m.room.message", {"highlight": False}) == "low"
    assert priority("m.room.message", {"highlight": True}) == "high"
    assert priority("m.room.message", {"sound": "default"}) == "high"
    # An encrypted event may highlight once decrypted.
    assert priority("m.room.encrypted", {}) == "high"


def test_event_without_content_and_names() -> None:
    event = {
        "event_id": "$e",
        "room_id": "!r:example.org",
        "type": "m.room.encrypted",
        "sender": "@bob:example.org",
        "content": {},
    }
    body = event_notification(
        PUSHER,
        event,
        ["notify"],
        unread=0,
        description=EventDescription(),
        include_content=True,
    )
    assert body == {
        "notification": {
            "event_id": "$e",
            "room_id": "!r:example.org",
            "type": "m.room.encrypted",
            "sender": "@bob:example.org",
            "prio": "high",
            "counts": {"unread": 0},
            "devices": [
                {
                    "app_id": "org.example.app",
                    "pushkey": "key",
                    "pushkey_ts": 1_700_000_123,
                    "data": {},
                }
            ],
        }
    }
    event["content"] = {"ciphertext": "x"}
    hidden = event_notification(
        PUSHER,
        event,
        ["notify"],
        unread=0,
        description=EventDescription(),
        include_content=False,
    )
    assert "content" not in hidden["notification"]
