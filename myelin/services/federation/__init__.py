"""Federation, the room side (spec: Server-Server API, "Transactions", "PDUs", "EDUs", "Room
State", "Backfilling and retrieving missing events", "Joining Rooms", "Inviting to a room",
"Leaving Rooms (Rejecting Invites)", "Knocking upon a room").
"""
