"""Which member events each device already has (spec: Client-Server API, "Lazy-loading room
members": a server may skip member events it already sent to the same device, unless the
filter sets ``include_redundant_members``).

Kept in memory, per (user, device) and room, bounded: losing it (a restart, an eviction) only
makes the server send some member events again, which is always allowed.
"""

from collections import OrderedDict

# How many devices' caches are kept.
MAX_DEVICES = 10_000


class LazyMemberCache:
    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self._max_devices = max_devices
        self._sent: OrderedDict[tuple[str, str], dict[str, dict[str, str]]] = OrderedDict()

    def _device(self, user_id: str, device_id: str | None) -> dict[str, dict[str, str]]:
        key = (user_id, device_id or "")
        rooms = self._sent.get(key)
        if rooms is None:
            rooms = self._sent[key] = {}
            while len(self._sent) > self._max_devices:
                self._sent.popitem(last=False)
        else:
            self._sent.move_to_end(key)
        return rooms

    def reset(self, user_id: str, device_id: str | None) -> None:
        """Forget what the device was sent (an initial sync starts over)."""
        self._sent.pop((user_id, device_id or ""), None)

    def already_sent(
        self, user_id: str, device_id: str | None, room_id: str, member: str, event_id: str
    ) -> bool:
        return self._device(user_id, device_id).get(room_id, {}).get(member) == event_id

    def record(
        self, user_id: str, device_id: str | None, room_id: str, members: dict[str, str]
    ) -> None:
        """Remember that the device now has these member events (member -> event ID)."""
        if members:
            self._device(user_id, device_id).setdefault(room_id, {}).update(members)
