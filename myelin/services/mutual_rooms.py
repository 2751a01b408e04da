"""Mutual rooms (spec: Client-Server API, "Mutual Rooms", v1.19: GET /v1/mutual_rooms).

The rooms both users are joined to, in room ID order, in batches; ``next_batch`` is the last
room ID of the batch (so a room joined or left meanwhile does not shift the pages).
"""

import base64
import binascii
from typing import Any

from myelin.core.identifiers import is_valid_user_id
from myelin.services.errors import MatrixError
from myelin.storage import StateStore

BATCH_SIZE = 100


def _invalid(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


class MutualRooms:
    def __init__(self, state: StateStore, batch_size: int = BATCH_SIZE) -> None:
        self._state = state
        self._batch_size = batch_size

    async def mutual_rooms(
        self, user_id: str, other: str | None, from_token: str | None
    ) -> dict[str, Any]:
        if other is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: user_id")
        if not is_valid_user_id(other, strict=True):
            raise _invalid("The user ID provided was invalid")
        if other == user_id:
            raise _invalid("You cannot ask for the rooms you share with yourself")
        after = ""
        if from_token is not None:
            try:
                after = base64.urlsafe_b64decode(from_token + "=" * (-len(from_token) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError) as e:
                raise _invalid("Invalid from token") from e
            if not after.startswith("!"):
                raise _invalid("Invalid from token")
        mine = set(await self._state.get_rooms_for_user(user_id, "join"))
        # An unknown user shares no room: an empty list, as the spec requires.
        theirs = set(await self._state.get_rooms_for_user(other, "join"))
        shared = sorted(mine & theirs)
        remaining = [r for r in shared if r > after]
        batch = remaining[: self._batch_size]
        body: dict[str, Any] = {"joined": batch, "count": len(shared)}
        if len(remaining) > len(batch):
            token = base64.urlsafe_b64encode(batch[-1].encode()).decode().rstrip("=")
            body["next_batch"] = token
        return body
