"""Authorising joins to restricted rooms (spec: Client-Server API, "Restricted rooms";
Server-Server API, "Restricted rooms", ``make_join`` / ``send_join``).

A join to a room whose join rule is ``restricted`` (or ``knock_restricted`` without an
invite) is accepted only when the user is joined to one of the rooms the allow conditions
name, as this server knows them, and it must name a user of this server who is joined to the
room and may invite (``join_authorised_via_users_server``). The same check serves local joins
and other servers' ``make_join`` / ``send_join``; the error codes are the Server-Server API's:

- 403 ``M_FORBIDDEN``: the user meets none of the conditions (or there are none);
- 400 ``M_UNABLE_TO_AUTHORISE_JOIN``: this server cannot verify any condition (it is in none
  of the allowed rooms);
- 400 ``M_UNABLE_TO_GRANT_JOIN``: the user qualifies but none of our users may authorise it.
"""

from collections.abc import Mapping
from typing import Protocol

from myelin.core.identifiers import server_name_of
from myelin.core.restricted_rooms import allowed_room_ids, authorisers, join_needs_authorisation
from myelin.core.room_versions import RoomVersion
from myelin.services.errors import MatrixError
from myelin.services.events.loading import EventReader, load_state_events

__all__ = ["JOIN_AUTHORISED_VIA", "RestrictedJoins", "local_authoriser_error"]

MEMBER = "m.room.member"
JOIN_AUTHORISED_VIA = "join_authorised_via_users_server"


class MembershipStateReader(Protocol):
    """The part of ``StateStore`` the check reads (current state only)."""

    async def get_current_state(self, room_id: str) -> Mapping[tuple[str, str], str]: ...

    async def get_room_members(self, room_id: str, membership: str = "join") -> list[str]: ...

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]: ...


def _is_on(server_name: str, user_id: str) -> bool:
    try:
        return server_name_of(user_id) == server_name
    except ValueError:
        return False


class RestrictedJoins:
    """The allow-condition check and the choice of an authorising user."""

    def __init__(self, *, events: EventReader, state: MembershipStateReader) -> None:
        self._events = events
        self._state = state

    async def authorisers_for(
        self, room_id: str, user_id: str, room_version: RoomVersion, server_name: str
    ) -> list[str] | None:
        """None when the join of ``user_id`` needs no authorising user; otherwise the users of
        ``server_name`` who may authorise it, best first (empty: none may). Raise 403
        ``M_FORBIDDEN`` or 400 ``M_UNABLE_TO_AUTHORISE_JOIN`` when the user does not qualify.
        """
        current = await self._state.get_current_state(room_id)
        keys = [
            ("m.room.join_rules", ""),
            ("m.room.power_levels", ""),
            ("m.room.create", ""),
            (MEMBER, user_id),
        ]
        state = await load_state_events(self._events, current, keys, room_version)
        join_rules = state.get(("m.room.join_rules", ""))
        own = state.get((MEMBER, user_id))
        rules_content = join_rules.content if join_rules is not None else None
        membership = own.membership if own is not None else None
        if rules_content is None or not join_needs_authorisation(
            room_version, rules_content, membership
        ):
            return None
        # "the server MUST verify that the requesting user meets at least one of the
        # conditions": m.room_membership, joined to the condition's room. Only rooms this
        # server is in can be verified (the state of a room we left may be stale).
        allowed = allowed_room_ids(rules_content)
        verifiable = [room for room in allowed if await self._is_resident(room, server_name)]
        joined = set(await self._state.get_rooms_for_user(user_id))
        if not any(room in joined for room in verifiable):
            if allowed and not verifiable:
                raise MatrixError(
                    400,
                    "M_UNABLE_TO_AUTHORISE_JOIN",
                    "This server is in none of the rooms the join rules allow, so it cannot"
                    " check that the user is joined to one of them",
                )
            raise MatrixError(
                403,
                "M_FORBIDDEN",
                "The room is restricted: you must be invited or joined to one of the rooms"
                " its join rules allow",
            )
        members = await self._state.get_room_members(room_id)
        local = [member for member in members if _is_on(server_name, member)]
        return authorisers(
            room_version,
            local,
            state.get(("m.room.create", "")),
            state.get(("m.room.power_levels", "")),
        )

    async def _is_resident(self, room_id: str, server_name: str) -> bool:
        members = await self._state.get_room_members(room_id)
        return any(_is_on(server_name, member) for member in members)

    async def choose_authoriser(
        self, room_id: str, user_id: str, room_version: RoomVersion, server_name: str
    ) -> str | None:
        """The ``join_authorised_via_users_server`` for a join of ``user_id`` (None when none
        is needed); 400 ``M_UNABLE_TO_GRANT_JOIN`` when no user of ours may invite."""
        found = await self.authorisers_for(room_id, user_id, room_version, server_name)
        if found is None:
            return None
        if not found:
            raise MatrixError(
                400,
                "M_UNABLE_TO_GRANT_JOIN",
                "The user may join, but no user of this server has the power to authorise it",
            )
        return found[0]

    async def verify_named_authoriser(
        self,
        room_id: str,
        user_id: str,
        authoriser: str,
        room_version: RoomVersion,
        server_name: str,
    ) -> None:
        """``send_join``: re-check the conditions for a join naming one of our users, and
        that this user may still authorise it (raise as ``authorisers_for``, or 400
        ``M_UNABLE_TO_GRANT_JOIN``). A join needing no authorisation passes."""
        found = await self.authorisers_for(room_id, user_id, room_version, server_name)
        if found is not None and authoriser not in found:
            raise MatrixError(
                400,
                "M_UNABLE_TO_GRANT_JOIN",
                f"{authoriser} is not a joined member of the room who may invite",
            )


def local_authoriser_error(error: MatrixError) -> MatrixError:
    """A local user's join (Client-Server API) fails with 403 ``M_FORBIDDEN`` whatever the
    federation code: this server is the one that checks, so there is no other to try."""
    if error.errcode in ("M_UNABLE_TO_AUTHORISE_JOIN", "M_UNABLE_TO_GRANT_JOIN"):
        reason = (
            "The room is restricted: you must be invited or joined to one of the rooms its"
            " join rules allow"
            if error.errcode == "M_UNABLE_TO_AUTHORISE_JOIN"
            else "The room is restricted and no user of this server may authorise your join;"
            " ask for an invite"
        )
        return MatrixError(403, "M_FORBIDDEN", reason)
    return error
