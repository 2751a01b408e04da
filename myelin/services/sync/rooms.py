"""The rooms sections of ``/sync`` (spec: Client-Server API, "Syncing", "Lazy-loading room
members", "Room History Visibility", "Stripped state"; the ``rooms`` object of ``GET /sync``).

``RoomsProvider`` owns the ``events`` stream. For a request answered up to position ``upto``:

1. The user's membership of every room as of ``upto`` (their member event at or below it)
   and, for an incremental sync, their member events in ``(since, upto]``.
2. Joined rooms: the timeline is the newest events in ``(since, upto]`` the user may see and
   the filter lets through (``limited`` when older ones were left out); a room is *full*
   (every state event, timeline not bounded by ``since``) on an initial sync, with
   ``full_state``, and when the user joined it in this sync (or left and joined again).
   An incremental sync skips joined rooms without an event in ``(since, upto]`` (one query
   finds the others): their timeline and state change would be empty.
3. ``state`` is the state at the start of the timeline: all of it for a full room, else what
   changed between the state at ``since`` and the start of the timeline (the gap), minus the
   events the timeline carries. With ``use_state_after`` it is the state at the end of the
   timeline instead (``state_after``).
4. Lazy loading keeps, of the member events, those of the timeline's senders, the user's own
   (for full rooms), the heroes', and every membership change in the gap; members already sent
   to the device are skipped unless ``include_redundant_members``.
5. Invites and knocks carry stripped state; rooms left in ``(since, upto]`` appear under
   ``leave`` with their timeline up to the leave; an initial sync lists left rooms only with
   ``include_leave`` (never forgotten ones).

``prev_batch`` is a ``/messages`` token ``s<N>``: paginating backwards from it returns the
events before the timeline's first event.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from myelin.core.client_events import STRIPPED_STATE_TYPES, strip_state_event, stripped_state
from myelin.core.filters import EventFormat, RoomEventFilter
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.event_serving import EventPresenter
from myelin.services.notifier import Notifier
from myelin.services.room_reads import RoomReads, make_token
from myelin.services.sync.lazy import LazyMemberCache
from myelin.services.sync.provider import JsonDict, LeftRoom, SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.services.visibility import StateCache
from myelin.storage import MemberChange, StateMap, StoredEvent

MEMBER = "m.room.member"
# Synapse's default timeline limit when the filter sets none.
DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 1000
MAX_HEROES = 5


class SyncReads(Protocol):
    async def member_events_between(
        self, user_id: str, after: int, upto: int
    ) -> list[MemberChange]: ...

    async def current_memberships(self, user_id: str) -> list[MemberChange]: ...

    async def membership_at(self, user_id: str, room_id: str, upto: int) -> MemberChange | None: ...

    async def last_event_at(self, room_id: str, upto: int) -> str | None: ...

    async def members_by_join_order(self, room_id: str) -> list[tuple[str, str]]: ...

    async def changes_between(
        self, user_id: str, room_ids: list[str], after: int, upto: int
    ) -> tuple[list[MemberChange], set[str]]: ...


class EventPositions(Protocol):
    async def get_max_stream_ordering(self) -> int: ...


class RoomVersions(Protocol):
    async def get_room_version(self, room_id: str) -> str | None: ...


class Forgotten(Protocol):
    async def is_forgotten(self, user_id: str, room_id: str) -> bool: ...


@dataclass
class _RoomSync:
    """What one room contributes: timeline, state, and the facts summaries need."""

    timeline: list[StoredEvent]
    memberships: dict[str, str]
    limited: bool
    prev_batch: str
    state: list[StoredEvent]


class RoomsProvider:
    """The ``events`` stream: ``rooms.join``, ``invite``, ``knock`` and ``leave``."""

    def __init__(
        self,
        *,
        positions: EventPositions,
        sync_reads: SyncReads,
        rooms: RoomVersions,
        forgotten: Forgotten,
        reads: RoomReads,
        presenter: EventPresenter,
        notifier: Notifier,
        lazy_members: LazyMemberCache,
        invites_blocked: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._positions = positions
        self._sync = sync_reads
        self._rooms = rooms
        self._forgotten = forgotten
        self._reads = reads
        self._presenter = presenter
        self._notifier = notifier
        self._lazy = lazy_members
        # Whether a user blocks invites, whose invites are then not served (spec: "Invite
        # permission").
        self.invites_blocked = invites_blocked

    @property
    def stream(self) -> StreamName:
        return "events"

    @property
    def notifier(self) -> Notifier:
        return self._notifier

    async def current_position(self) -> int:
        return await self._positions.get_max_stream_ordering()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        if since is not None and since > upto:
            since = None
        user_id = request.user_id
        if since is None:
            self._lazy.reset(user_id, request.device_id)
        # 1. Memberships as of ``upto`` and the changes since ``since``.
        at_upto: dict[str, MemberChange] = {}
        for current in await self._sync.current_memberships(user_id):
            if current.stream_ordering <= upto:
                at_upto[current.room_id] = current
            else:
                earlier = await self._sync.membership_at(user_id, current.room_id, upto)
                if earlier is not None:
                    at_upto[current.room_id] = earlier
        changes: dict[str, list[MemberChange]] = {}
        # Joined rooms without a (visible) event in ``(since, upto]`` have nothing to send
        # (empty timeline, no state change): the read of the user's member events names the
        # rest. None: look at all. (A room first met among those member events is never
        # skipped: it has a change.)
        moved: set[str] | None = None
        if since is not None and not request.full_state:
            moved = set()
        if since is not None and since < upto:
            joined = (
                []
                if request.full_state
                else [r for r, m in at_upto.items() if m.membership == "join"]
            )
            member_events, changed = await self._sync.changes_between(user_id, joined, since, upto)
            if moved is not None:
                moved = changed
            for change in member_events:
                changes.setdefault(change.room_id, []).append(change)
                if change.room_id not in at_upto:
                    latest = await self._sync.membership_at(user_id, change.room_id, upto)
                    if latest is not None:
                        at_upto[change.room_id] = latest
        room_filter = request.filter.room
        blocks: list[bool] = []

        async def blocked() -> bool:
            """Whether the user blocks invites (asked once, when an invite is met)."""
            if not blocks:
                check = self.invites_blocked
                blocks.append(check is not None and await check(user_id))
            return blocks[0]

        for room_id in sorted(at_upto):
            if not room_filter.matches_room(room_id):
                continue
            member = at_upto[room_id]
            request.memberships[room_id] = member.membership
            room_changes = changes.get(room_id, [])
            if member.membership == "join":
                if moved is not None and room_id not in moved and not room_changes:
                    continue
                newly_joined = since is None or await self._joined_since(
                    user_id, room_id, since, room_changes
                )
                if newly_joined:
                    request.newly_joined.add(room_id)
                await self._joined(
                    request, response, room_id, since=since, upto=upto, newly_joined=newly_joined
                )
            elif member.membership in ("invite", "knock"):
                if member.membership == "invite" and await blocked():
                    continue
                if since is None or room_changes:
                    await self._invite_or_knock(response, member)
            elif member.membership in ("leave", "ban"):
                if since is None:
                    if not room_filter.include_leave or await self._forgotten.is_forgotten(
                        user_id, room_id
                    ):
                        continue
                elif not room_changes:
                    continue
                await self._left(request, response, room_id, since, member)
        return upto

    async def _joined_since(
        self, user_id: str, room_id: str, since: int, room_changes: Sequence[MemberChange]
    ) -> bool:
        """Whether the user joined in ``(since, upto]`` (or left and joined again)."""
        if not room_changes:
            return False
        if any(change.membership != "join" for change in room_changes):
            return True
        before = await self._sync.membership_at(user_id, room_id, since)
        return before is None or before.membership != "join"

    async def _room_version(self, room_id: str) -> RoomVersion:
        # The store caches it: a room's version is fixed when the room is created.
        return get_room_version(await self._rooms.get_room_version(room_id) or "10")

    async def _joined(
        self,
        request: SyncRequest,
        response: SyncResponse,
        room_id: str,
        *,
        since: int | None,
        upto: int,
        newly_joined: bool,
    ) -> None:
        full = newly_joined or request.full_state
        version = await self._room_version(room_id)
        cache = self._reads.cache()
        part = await self._room(
            request,
            cache,
            version,
            room_id,
            membership="join",
            since=since,
            upto=upto,
            full=full,
            # full_state: "The timeline will still be limited by the since parameter".
            timeline_from_start=newly_joined,
        )
        room = response.joined_room(room_id)
        room.force = full
        room.limited = part.limited
        room.prev_batch = part.prev_batch
        timeline = await self._present(request, cache, version, part.timeline, part.memberships)
        room.timeline = timeline
        room.state = await self._present(request, cache, version, part.state, None)
        if full or any(e.type == MEMBER for e in (*part.timeline, *part.state)):
            room.summary = await self._summary(room_id, request.user_id)

    async def _left(
        self,
        request: SyncRequest,
        response: SyncResponse,
        room_id: str,
        since: int | None,
        member: MemberChange,
    ) -> None:
        version = await self._room_version(room_id)
        cache = self._reads.cache()
        # The timeline ends with the leave: nothing after it is the user's to see.
        part = await self._room(
            request,
            cache,
            version,
            room_id,
            membership=member.membership,
            since=since,
            upto=member.stream_ordering,
            full=request.full_state or since is None,
            timeline_from_start=since is None,
        )
        room = response.leave.setdefault(room_id, LeftRoom())
        room.limited = part.limited
        room.prev_batch = part.prev_batch
        room.timeline = await self._present(
            request, cache, version, part.timeline, part.memberships
        )
        room.state = await self._present(request, cache, version, part.state, None)

    async def _room(
        self,
        request: SyncRequest,
        cache: StateCache,
        version: RoomVersion,
        room_id: str,
        *,
        membership: str,
        since: int | None,
        upto: int,
        full: bool,
        timeline_from_start: bool,
    ) -> _RoomSync:
        room_filter = request.filter.room
        timeline_filter = room_filter.timeline
        limit = min(timeline_filter.limit or DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT)
        # 2. The newest ``limit`` events the user may see; one more tells whether it is limited.
        chosen, memberships, end = await self._reads.paginate(
            cache,
            version,
            room_id,
            request.user_id,
            membership,
            start=upto,
            backwards=True,
            stop=None if timeline_from_start or since is None else since,
            limit=limit + 1,
            event_filter=timeline_filter,
        )
        limited = len(chosen) > limit or (end is not None and len(chosen) <= limit)
        timeline = list(reversed(chosen[:limit]))
        if timeline_from_start and not timeline:
            limited = False
        prev_batch = make_token(timeline[0].stream_ordering - 1 if timeline else upto)
        # 3. The state at the start (or, with use_state_after, the end) of the timeline.
        if request.use_state_after or not timeline:
            end_id = await self._sync.last_event_at(room_id, upto)
            target: StateMap = {} if end_id is None else await cache.state_after(end_id)
        else:
            target = await cache.state_before(timeline[0])
        if full or since is None:
            changed = dict(target)
        else:
            since_id = await self._sync.last_event_at(room_id, since)
            at_since = {} if since_id is None else await cache.state_after(since_id)
            changed = {key: eid for key, eid in target.items() if at_since.get(key) != eid}
        if not request.use_state_after:
            in_timeline = {e.event_id for e in timeline}
            changed = {k: v for k, v in changed.items() if v not in in_timeline}
        state_filter = room_filter.state
        if state_filter.lazy_load_members:
            changed = await self._lazy_state(
                request, room_id, changed, target, timeline, full=full, state_filter=state_filter
            )
        loaded = await cache.load(list(changed.values()))
        state = [
            loaded[eid]
            for eid in changed.values()
            if eid in loaded and state_filter.matches(loaded[eid].json())
        ]
        state.sort(key=lambda e: e.stream_ordering)
        if state_filter.lazy_load_members:
            self._lazy.record(
                request.user_id,
                request.device_id,
                room_id,
                {
                    e.state_key: e.event_id
                    for e in (*state, *timeline)
                    if e.type == MEMBER and e.state_key is not None
                },
            )
        return _RoomSync(timeline, memberships, limited, prev_batch, state)

    async def _lazy_state(
        self,
        request: SyncRequest,
        room_id: str,
        changed: dict[tuple[str, str], str],
        target: StateMap,
        timeline: Sequence[StoredEvent],
        *,
        full: bool,
        state_filter: RoomEventFilter,
    ) -> dict[tuple[str, str], str]:
        """4. Lazy loading: which member events stay in ``state``."""
        wanted = {e.sender for e in timeline}
        if full:
            wanted.add(request.user_id)
            wanted.update(await self._heroes(room_id, request.user_id))
        kept = {key: eid for key, eid in changed.items() if key[0] != MEMBER}
        if not full:
            # Membership changes in the gap are sent whether redundant or not.
            kept.update({key: eid for key, eid in changed.items() if key[0] == MEMBER})
        for member in sorted(wanted):
            key = (MEMBER, member)
            event_id = target.get(key)
            if event_id is None or key in kept:
                continue
            if (
                not full
                and not state_filter.include_redundant_members
                and self._lazy.already_sent(
                    request.user_id, request.device_id, room_id, member, event_id
                )
            ):
                continue
            if any(e.event_id == event_id for e in timeline) and not request.use_state_after:
                continue
            kept[key] = event_id
        return kept

    async def _present(
        self,
        request: SyncRequest,
        cache: StateCache,
        version: RoomVersion,
        events: Sequence[StoredEvent],
        memberships: Mapping[str, str] | None,
    ) -> list[JsonDict]:
        served = await self._presenter.present(
            cache,
            version,
            events,
            user_id=request.user_id,
            device_id=request.device_id,
            memberships=memberships,
            include_room_id=False,
            federation_format=request.filter.event_format is EventFormat.FEDERATION,
        )
        return [request.filter.project(event) for event in served]

    async def _heroes(self, room_id: str, user_id: str) -> list[str]:
        members = [(u, m) for u, m in await self._sync.members_by_join_order(room_id)]
        present = [u for u, m in members if m in ("join", "invite") and u != user_id]
        if present:
            return present[:MAX_HEROES]
        return [u for u, m in members if m in ("leave", "ban") and u != user_id][:MAX_HEROES]

    async def _summary(self, room_id: str, user_id: str) -> JsonDict:
        members = await self._sync.members_by_join_order(room_id)
        return {
            "m.heroes": await self._heroes(room_id, user_id),
            "m.joined_member_count": sum(1 for _, m in members if m == "join"),
            "m.invited_member_count": sum(1 for _, m in members if m == "invite"),
        }

    async def _invite_or_knock(self, response: SyncResponse, member: MemberChange) -> None:
        """5. Stripped state: what the member event carries, else the room's state at it."""
        cache = self._reads.cache()
        stored = (await cache.load([member.event_id])).get(member.event_id)
        if stored is None:
            return
        pdu = stored.json()
        key = "invite_room_state" if member.membership == "invite" else "knock_room_state"
        unsigned = pdu.get("unsigned")
        events: list[JsonDict] = []
        if isinstance(unsigned, dict) and key in unsigned:
            events = stripped_state(unsigned[key])
        else:
            state = await cache.state_after(member.event_id)
            ids = [state[(t, "")] for t in STRIPPED_STATE_TYPES if (t, "") in state]
            loaded = await cache.load(ids)
            events = [s for i in ids if i in loaded and (s := strip_state_event(loaded[i].json()))]
        own = strip_state_event(pdu)
        if own is not None:
            events = [
                e for e in events if (e["type"], e.get("state_key")) != (MEMBER, stored.state_key)
            ]
            events.append(own)
        target = response.invite if member.membership == "invite" else response.knock
        target[member.room_id] = events
