"""Assembling ``/sync`` (spec: Client-Server API, "Syncing" and ``GET /sync``: ``since``,
``timeout``, ``full_state``, ``set_presence``).

``SyncService.sync`` reads every provider's current position once (the persisted streams' all
in one read when given ``stored_positions``), lets each provider fill its
sections for ``(since, upto]`` (the rooms provider first), then the room decorators. An
incremental sync with nothing for the client and a ``timeout`` long-polls: it waits on every
provider's notifier past the positions it just covered, and computes again when one fires
(at once if something landed meanwhile: the notifiers remember recent notifications), until
the timeout expires; it then answers with empty sections and a ``next_batch`` that covers what
was examined. An initial sync and a ``full_state`` sync never wait.
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.services.notifier import wait_any
from myelin.services.sync.provider import (
    JsonDict,
    PresenceSetter,
    RoomDecorator,
    StreamProvider,
    SyncRequest,
    SyncResponse,
    wait_targets,
)
from myelin.services.sync.token import StreamName, SyncToken

PRESENCE_STATES = frozenset({"online", "offline", "unavailable"})


class StoredPositions(Protocol):
    async def stream_positions(self) -> Mapping[str, int]:
        """Persisted streams' positions by name: each what that stream's provider's
        ``current_position`` would read."""
        ...


class SyncService:
    def __init__(
        self,
        providers: Sequence[StreamProvider],
        *,
        clock: Clock,
        decorators: Sequence[RoomDecorator] = (),
        presence: PresenceSetter | None = None,
        stored_positions: StoredPositions | None = None,
    ) -> None:
        streams = [p.stream for p in providers]
        if len(set(streams)) != len(streams):
            raise ValueError(f"two providers for one stream: {streams}")
        if streams and streams[0] != "events":
            raise ValueError("the rooms provider (events stream) must come first")
        self._providers = list(providers)
        self._decorators = list(decorators)
        self._clock = clock
        self.presence = presence
        self._stored_positions = stored_positions

    def add_provider(self, provider: StreamProvider) -> None:
        """Plug in another stream's provider (typing, receipts, presence, ...)."""
        if any(p.stream == provider.stream for p in self._providers):
            raise ValueError(f"a provider for {provider.stream} exists already")
        self._providers.append(provider)

    def add_decorator(self, decorator: RoomDecorator) -> None:
        self._decorators.append(decorator)

    async def sync(
        self,
        request: SyncRequest,
        since: SyncToken | None,
        *,
        timeout_ms: int = 0,
        set_presence: str | None = None,
    ) -> JsonDict:
        if set_presence is not None and set_presence not in PRESENCE_STATES:
            raise MatrixError(
                400, "M_INVALID_PARAM", "set_presence must be online, offline or unavailable"
            )
        if self.presence is not None:
            # Omitted means "online" (spec: set_presence).
            await self.presence.set_presence_from_sync(
                request.user_id, request.device_id, set_presence or "online"
            )
        deadline = self._clock.monotonic() + max(timeout_ms, 0) / 1000
        while True:
            response, token = await self._compute(request, since)
            remaining = deadline - self._clock.monotonic()
            if since is None or request.full_state or not response.is_empty() or remaining <= 0:
                return response.to_json(token.serialize())
            if not await self._wait(request, token, remaining):
                return response.to_json(token.serialize())

    async def _compute(
        self, request: SyncRequest, since: SyncToken | None
    ) -> tuple[SyncResponse, SyncToken]:
        request.memberships.clear()
        request.newly_joined.clear()
        stored: Mapping[str, int] = {}
        if self._stored_positions is not None:
            stored = await self._stored_positions.stream_positions()
        upto: dict[StreamName, int] = {}
        for provider in self._providers:
            position = stored.get(provider.stream)
            if position is None:
                position = await provider.current_position()
            upto[provider.stream] = position
        response = SyncResponse(use_state_after=request.use_state_after)
        reached: dict[StreamName, int] = {}
        for provider in self._providers:
            stream = provider.stream
            start = None if since is None else since.position(stream)
            reached[stream] = await provider.sync(request, response, start, upto[stream])
        for decorator in self._decorators:
            await decorator.decorate(request, response)
        return response, (since or SyncToken()).advance_many(reached)

    async def _wait(self, request: SyncRequest, token: SyncToken, remaining: float) -> bool:
        """Wait until a provider's notifier fires past ``token``; False on timeout."""
        user_ids, room_ids = wait_targets(request)
        watched = [(p.notifier, token.position(p.stream)) for p in self._providers]
        woke = await wait_any(watched, remaining, self._clock, user_ids, room_ids)
        return woke is not None
