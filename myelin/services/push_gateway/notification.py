"""The body of ``POST /_matrix/push/v1/notify`` (spec: Push Gateway API, "Homeserver
behaviour", and Client-Server API, "Push Notifications", "Actions").

Pure functions: what a pusher tells its push gateway about an event (or about the unread
count alone), given the event, the push actions that matched it and what the homeserver knows
around it. Where the spec leaves room, Synapse's behaviour is followed (the gateways and
clients in use were written against it); each place says so.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.storage.push_rules import PusherRecord

JsonDict = dict[str, Any]
EVENT_ID_ONLY = "event_id_only"


@dataclass(frozen=True)
class EventDescription:
    """What the room state at the event says: the sender's display name, the room's name
    (``m.room.name``) and its canonical alias (``m.room.canonical_alias``)."""

    sender_display_name: str | None = None
    room_name: str | None = None
    room_alias: str | None = None


def tweaks_for_actions(actions: Sequence[Any]) -> JsonDict:
    """The ``tweaks`` of the ``set_tweak`` actions ("Actions": a tweak given without a value
    is ``true``, the meaning the spec gives it for ``highlight``)."""
    tweaks: JsonDict = {}
    for action in actions:
        if isinstance(action, Mapping) and isinstance(action.get("set_tweak"), str):
            tweaks[action["set_tweak"]] = action.get("value", True)
    return tweaks


def priority(event_type: str, tweaks: Mapping[str, Any]) -> str:
    """``prio`` as Synapse computes it: ``high`` for a notification that highlights or plays
    a sound, or for an encrypted event (which may do either once decrypted), else ``low``."""
    if event_type == "m.room.encrypted" or tweaks.get("highlight") or tweaks.get("sound"):
        return "high"
    return "low"


def data_without_url(pusher: PusherRecord) -> JsonDict:
    """The pusher's ``data`` as the gateway gets it: "minus the ``url`` key"."""
    return {key: value for key, value in pusher.data.items() if key != "url"}


def device(pusher: PusherRecord, tweaks: Mapping[str, Any] | None = None) -> JsonDict:
    """One entry of ``devices`` (``pushkey_ts`` in seconds)."""
    entry: JsonDict = {
        "app_id": pusher.app_id,
        "pushkey": pusher.pushkey,
        "pushkey_ts": pusher.created_ts // 1000,
        "data": data_without_url(pusher),
    }
    if tweaks:
        entry["tweaks"] = dict(tweaks)
    return entry


def counts(unread: int) -> JsonDict:
    """``counts``. The spec says counts of zero "should be omitted"; ``unread`` is sent even
    when zero, as Synapse does, because gateways (Sygnal) clear the app's badge only when
    they are told the count. ``missed_calls`` is not tracked, so always omitted (zero)."""
    return {"unread": unread}


def event_notification(
    pusher: PusherRecord,
    event: Mapping[str, Any],
    actions: Sequence[Any],
    *,
    unread: int,
    description: EventDescription,
    include_content: bool,
) -> JsonDict:
    """The request body about ``event`` for ``pusher``.

    With ``data.format`` ``event_id_only`` only ``event_id``, ``room_id``, ``counts`` and
    ``devices`` are sent, plus ``prio``, and no tweaks (as Synapse: the format exists to keep
    everything else away from the gateway)."""
    event_type = str(event.get("type", ""))
    tweaks = tweaks_for_actions(actions)
    body: JsonDict = {
        "event_id": event["event_id"],
        "room_id": event["room_id"],
        "prio": priority(event_type, tweaks),
        "counts": counts(unread),
    }
    if pusher.data.get("format") == EVENT_ID_ONLY:
        body["devices"] = [device(pusher)]
        return {"notification": body}
    body["type"] = event_type
    body["sender"] = event.get("sender")
    if description.sender_display_name:
        body["sender_display_name"] = description.sender_display_name
    if description.room_name:
        body["room_name"] = description.room_name
    if description.room_alias:
        body["room_alias"] = description.room_alias
    content = event.get("content")
    if event_type == "m.room.member" and "state_key" in event:
        body["user_is_target"] = event["state_key"] == pusher.user_id
        if isinstance(content, Mapping) and isinstance(content.get("membership"), str):
            # Not in the spec's schema; Synapse sends it and gateways use it for invites.
            body["membership"] = content["membership"]
    if include_content and isinstance(content, Mapping) and content:
        body["content"] = dict(content)
    body["devices"] = [device(pusher, tweaks)]
    return {"notification": body}


def counts_notification(pusher: PusherRecord, unread: int) -> JsonDict:
    """A notification of the unread count alone ("The counts may be sent along with a
    notification about an event or by themselves"), sent when a read receipt changed it."""
    return {"notification": {"counts": counts(unread), "devices": [device(pusher)]}}
