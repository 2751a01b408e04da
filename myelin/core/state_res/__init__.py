"""State resolution v1, v2 and v2.1 (spec: "Server-Server API", "Room State Resolution";
"Room Version 1", "Room Version 2" and "Room Version 12", "State resolution").

One module per step. Pure functions: the caller passes every event the algorithm reads (the
events of the state sets and their full auth chains) in ``event_map``.
"""

from myelin.core.state_res.auth_chain import MissingEventError, StateKey, auth_chain
from myelin.core.state_res.resolve import resolve_state

__all__ = ["MissingEventError", "StateKey", "auth_chain", "resolve_state"]
