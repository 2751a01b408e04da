"""Aliases, the room directory, relations, threads and bundled aggregations over HTTP."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import SERVER_NAME, ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import V1, User, new_user


async def _two(serve: ServeFn) -> tuple[User, User]:
    client = await serve_accounts(serve)
    return await new_user(client, "alice"), await new_user(client, "bob")


def alias_path(alias: str) -> str:
    return f"{V3}/directory/room/{quote(alias)}"


async def test_aliases(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(room_alias_name="main", preset="public_chat")
    alias = f"#main:{SERVER_NAME}"
    resolved = await bob.request("GET", alias_path(alias))
    validate_response(
        resolved, "client-server/directory.yaml", "/directory/room/{roomAlias}", "get", 200
    )
    assert resolved == {"room_id": room_id, "servers": [SERVER_NAME]}
    # Joining by alias.
    assert (await bob.join(alias))["room_id"] == room_id
    await bob.request("PUT", alias_path(f"#bobs:{SERVER_NAME}"), json={"room_id": room_id})
    taken = await bob.request(
        "PUT", alias_path(f"#bobs:{SERVER_NAME}"), json={"room_id": room_id}, status=409
    )
    validate(taken, error_schema())
    await bob.request("PUT", alias_path("#x:other.example"), json={"room_id": room_id}, status=400)
    aliases = await bob.request("GET", f"{V3}/rooms/{quote(room_id)}/aliases")
    assert aliases == {"aliases": sorted([alias, f"#bobs:{SERVER_NAME}"])}
    # Bob may not delete Alice's alias; Alice (room admin) may delete Bob's.
    await bob.request("DELETE", alias_path(alias), status=403)
    await alice.request("DELETE", alias_path(f"#bobs:{SERVER_NAME}"))
    await bob.request("GET", alias_path(f"#bobs:{SERVER_NAME}"), status=404)
    # Deleting the canonical alias drops it from the canonical alias event.
    await alice.request("DELETE", alias_path(alias))
    await alice.request(
        "GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.canonical_alias/", status=200
    )
    state = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.canonical_alias/")
    assert "alias" not in state
    # createRoom with a taken alias.
    await alice.request("PUT", alias_path(alias), json={"room_id": room_id})
    await alice.create_room(room_alias_name="main", status=400)


async def test_directory_and_public_rooms(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    public = await alice.create_room(visibility="public", name="Public place", topic="Cats")
    private = await alice.create_room(name="Hidden")
    listing = f"{V3}/directory/list/room/{quote(private)}"
    assert await bob.request("GET", listing) == {"visibility": "private"}
    await bob.request("PUT", listing, json={"visibility": "public"}, status=403)
    rooms = await bob.client.get(f"{V3}/publicRooms")
    body = await rooms.json()
    validate_response(body, "client-server/list_public_rooms.yaml", "/publicRooms", "get", 200)
    assert [r["room_id"] for r in body["chunk"]] == [public]
    entry = body["chunk"][0]
    assert entry["name"] == "Public place" and entry["topic"] == "Cats"
    assert entry["num_joined_members"] == 1 and entry["join_rule"] == "public"
    await alice.request("PUT", listing, json={"visibility": "public"})
    await bob.join(public)
    page = await bob.request("POST", f"{V3}/publicRooms", json={"limit": 1})
    assert [r["room_id"] for r in page["chunk"]] == [public]  # more members first
    nxt = await bob.request(
        "POST", f"{V3}/publicRooms", json={"limit": 1, "since": page["next_batch"]}
    )
    assert [r["room_id"] for r in nxt["chunk"]] == [private] and "prev_batch" in nxt
    found = await bob.request(
        "POST", f"{V3}/publicRooms", json={"filter": {"generic_search_term": "hidd"}}
    )
    assert [r["room_id"] for r in found["chunk"]] == [private]
    await bob.request("POST", f"{V3}/publicRooms", json={"since": "junk"}, status=400)
    await bob.request("POST", f"{V3}/publicRooms", json={"limit": "1"}, status=400)


async def test_relations_threads_and_bundles(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    root = await alice.send(room_id, "root")
    edit = await alice.send(
        room_id,
        content={
            "msgtype": "m.text",
            "body": "* root edited",
            "m.new_content": {"msgtype": "m.text", "body": "root edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": root},
        },
    )
    threaded = []
    for i in range(3):
        threaded.append(
            await bob.send(
                room_id,
                content={
                    "msgtype": "m.text",
                    "body": f"in thread {i}",
                    "m.relates_to": {"rel_type": "m.thread", "event_id": root},
                },
            )
        )
    ref = await bob.send(
        room_id,
        event_type="m.key.verification.done",
        content={"m.relates_to": {"rel_type": "m.reference", "event_id": root}},
    )
    event = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/event/{quote(root)}")
    relations = event["unsigned"]["m.relations"]
    assert relations["m.replace"]["event_id"] == edit
    assert relations["m.thread"]["count"] == 3
    assert relations["m.thread"]["latest_event"]["event_id"] == threaded[-1]
    assert relations["m.thread"]["current_user_participated"] is True
    assert relations["m.reference"] == {"chunk": [{"event_id": ref}]}
    base = f"{V1}/rooms/{quote(room_id)}/relations/{quote(root)}"
    everything = await alice.request("GET", base)
    validate_response(
        everything,
        "client-server/relations.yaml",
        "/rooms/{roomId}/relations/{eventId}",
        "get",
        200,
    )
    assert [e["event_id"] for e in everything["chunk"]] == [ref, *threaded[::-1], edit]
    threads_only = await alice.request("GET", f"{base}/m.thread", params={"limit": "2"})
    assert [e["event_id"] for e in threads_only["chunk"]] == threaded[::-1][:2]
    rest = await alice.request(
        "GET", f"{base}/m.thread", params={"limit": "2", "from": threads_only["next_batch"]}
    )
    assert [e["event_id"] for e in rest["chunk"]] == threaded[:1] and "next_batch" not in rest
    typed = await alice.request("GET", f"{base}/m.reference/m.key.verification.done")
    assert [e["event_id"] for e in typed["chunk"]] == [ref]
    forwards = await alice.request("GET", f"{base}/m.thread", params={"dir": "f"})
    assert [e["event_id"] for e in forwards["chunk"]] == threaded
    recursed = await alice.request("GET", base, params={"recurse": "true"})
    assert recursed["recursion_depth"] == 1
    threads = await alice.request("GET", f"{V1}/rooms/{quote(room_id)}/threads")
    validate_response(
        threads, "client-server/threads_list.yaml", "/rooms/{roomId}/threads", "get", 200
    )
    assert [e["event_id"] for e in threads["chunk"]] == [root]
    mine = await alice.request(
        "GET", f"{V1}/rooms/{quote(room_id)}/threads", params={"include": "participated"}
    )
    assert [e["event_id"] for e in mine["chunk"]] == [root]
    await alice.request(
        "GET", f"{V1}/rooms/{quote(room_id)}/threads", params={"include": "x"}, status=400
    )
    await alice.request("GET", f"{V1}/rooms/{quote(room_id)}/relations/$unknown", status=404)


async def test_knock_and_invalid_create(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}]
    )
    body = await bob.request("POST", f"{V3}/knock/{quote(room_id)}", json={"reason": "hi"})
    assert body == {"room_id": room_id}
    members = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/members")
    assert {e["state_key"]: e["content"]["membership"] for e in members["chunk"]}[
        bob.user_id
    ] == "knock"
    for bad in ({"room_version": "999"}, {"preset": "nope"}, {"invite": "x"}, {"name": 3}):
        error = await alice.request("POST", f"{V3}/createRoom", json=bad, status=400)
        validate(error, error_schema())
    forget = await alice.request("POST", f"{V3}/rooms/{quote(room_id)}/forget", json={}, status=400)
    validate(forget, error_schema())
