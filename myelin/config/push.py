"""Push options (Push Gateway API; Synapse's names and defaults).

``push`` (Synapse's section: ``enabled``, ``include_content``, ``group_unread_count_by_room``)
and ``ip_range_blacklist``/``ip_range_whitelist``, the addresses outbound requests to push
gateways may connect to. The fields are declared on ``HomeserverConfig`` with the helpers
below.
"""

from dataclasses import dataclass
from typing import Any

from myelin.config.media import DEFAULT_IP_RANGE_BLACKLIST, networks_check
from myelin.config.schema import option


@dataclass(frozen=True)
class PushConfig:
    """``push``."""

    enabled: bool = option(
        True,
        doc="Whether notifications are sent to the push gateways of users' http pushers"
        " (POST /_matrix/push/v1/notify). When false pushers are still stored and listed.",
    )
    include_content: bool = option(
        True,
        doc="Whether a notification carries the event's content (the spec allows leaving it"
        " out; pushers with data.format event_id_only never get it).",
    )
    group_unread_count_by_room: bool = option(
        True,
        doc="counts.unread of a notification: the number of rooms with unread notifications"
        " (plus pending invites) when true, as Synapse does; the number of unread"
        " notifications when false.",
    )


def ip_range_blacklist_option() -> Any:
    return option(
        DEFAULT_IP_RANGE_BLACKLIST,
        doc="IP ranges requests to push gateways never connect to: checked against every"
        " address a gateway's host name resolves to, and IP literals before connecting."
        " 0.0.0.0 and :: are always refused. The default lists the loopback, private,"
        " link-local, multicast and reserved ranges.",
        fix="list CIDR ranges such as 10.0.0.0/8",
        check=networks_check,
    )


def ip_range_whitelist_option() -> Any:
    return option(
        (),
        doc="IP ranges push gateways may be reached at even though ip_range_blacklist names"
        " them (e.g. a gateway on the local network).",
        fix="list CIDR ranges such as 192.168.1.0/24",
        check=networks_check,
        example=["192.168.1.0/24"],
    )
