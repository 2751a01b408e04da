"""UIASessionStore, RegistrationTokenStore, LoginTokenStore and ProfileFieldStore on both
engines."""

from myelin.storage import Database, make_stores

ALICE = "@alice:example.org"


async def test_registration_tokens(database: Database) -> None:
    tokens = make_stores(database).registration_tokens
    assert await tokens.create_token("abc", uses_allowed=2, expiry_time=None)
    assert not await tokens.create_token("abc", uses_allowed=5, expiry_time=1)
    record = await tokens.get_token("abc")
    assert record is not None
    assert (record.uses_allowed, record.pending, record.completed, record.expiry_time) == (
        2,
        0,
        0,
        None,
    )
    assert record.valid(0)
    await tokens.create_token("exp", uses_allowed=None, expiry_time=1000)
    exp = await tokens.get_token("exp")
    assert exp is not None and exp.valid(999) and not exp.valid(1000)
    assert [t.token for t in await tokens.list_tokens()] == ["abc", "exp"]
    updated = await tokens.update_token(
        "abc", uses_allowed=None, set_uses_allowed=True, expiry_time=5, set_expiry_time=False
    )
    assert updated is not None and updated.uses_allowed is None and updated.expiry_time is None
    updated = await tokens.update_token(
        "abc", uses_allowed=7, set_uses_allowed=False, expiry_time=5, set_expiry_time=True
    )
    assert updated is not None and updated.uses_allowed is None and updated.expiry_time == 5
    assert (
        await tokens.update_token(
            "none", uses_allowed=1, set_uses_allowed=True, expiry_time=None, set_expiry_time=True
        )
        is None
    )
    assert await tokens.delete_token("abc")
    assert not await tokens.delete_token("abc")
    assert await tokens.get_token("abc") is None


async def test_uia_sessions_and_token_accounting(database: Database) -> None:
    stores = make_stores(database)
    sessions, tokens = stores.uia_sessions, stores.registration_tokens
    await tokens.create_token("tok", uses_allowed=1, expiry_time=None)
    await sessions.create_session("s1", method="POST", uri="/r", user_id=None, now_ts=10)
    record = await sessions.get_session("s1")
    assert record is not None
    assert (record.method, record.uri, record.user_id, record.completed) == ("POST", "/r", None, ())
    assert await sessions.mark_completed("s1", "m.login.dummy", now_ts=20) == ("m.login.dummy",)
    completed = await sessions.mark_completed(
        "s1", "m.login.registration_token", now_ts=30, registration_token="tok"
    )
    assert completed == ("m.login.dummy", "m.login.registration_token")
    # Completing again does not count the token twice.
    await sessions.mark_completed(
        "s1", "m.login.registration_token", now_ts=31, registration_token="tok"
    )
    token = await tokens.get_token("tok")
    assert token is not None and (token.pending, token.completed) == (1, 0) and not token.valid(0)
    record = await sessions.get_session("s1")
    assert record is not None and record.registration_token == "tok" and record.last_used_ts == 31
    await sessions.delete_session("s1", token_used=True)
    assert await sessions.get_session("s1") is None
    token = await tokens.get_token("tok")
    assert token is not None and (token.pending, token.completed) == (0, 1)
    assert await sessions.mark_completed("gone", "m.login.dummy", now_ts=1) == ()


async def test_uia_session_expiry_gives_back_pending_uses(database: Database) -> None:
    stores = make_stores(database)
    sessions, tokens = stores.uia_sessions, stores.registration_tokens
    await tokens.create_token("tok", uses_allowed=None, expiry_time=None)
    await sessions.create_session("old", method="POST", uri="/r", user_id="@u:x", now_ts=10)
    await sessions.create_session("new", method="POST", uri="/r", user_id=None, now_ts=10)
    await sessions.mark_completed("old", "t", now_ts=10, registration_token="tok")
    await sessions.mark_completed("new", "t", now_ts=100, registration_token="tok")
    token = await tokens.get_token("tok")
    assert token is not None and token.pending == 2
    assert await sessions.delete_expired(50) == 1
    assert await sessions.get_session("old") is None
    assert await sessions.get_session("new") is not None
    token = await tokens.get_token("tok")
    assert token is not None and (token.pending, token.completed) == (1, 0)
    await sessions.touch("new", 500)
    assert await sessions.delete_expired(400) == 0
    await sessions.delete_session("new")
    token = await tokens.get_token("tok")
    assert token is not None and (token.pending, token.completed) == (0, 0)


async def test_login_tokens_are_single_use_and_hashed(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    await stores.login_tokens.add_login_token("secret", user_id=ALICE, expires_ts=100)
    assert (
        await database.fetchval("SELECT COUNT(*) FROM login_tokens WHERE token_hash = 'secret'")
        == 0
    )
    assert await stores.login_tokens.consume_login_token("secret", 50) == ALICE
    assert await stores.login_tokens.consume_login_token("secret", 50) is None
    await stores.login_tokens.add_login_token("late", user_id=ALICE, expires_ts=100)
    assert await stores.login_tokens.consume_login_token("late", 100) is None
    await stores.login_tokens.add_login_token("a", user_id=ALICE, expires_ts=10)
    await stores.login_tokens.add_login_token("b", user_id=ALICE, expires_ts=1000)
    assert await stores.login_tokens.delete_expired(500) == 1
    assert await stores.login_tokens.consume_login_token("b", 500) == ALICE


async def test_profile_fields(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    fields = stores.profile_fields
    assert await fields.get_fields(ALICE) == {}
    await fields.set_field(ALICE, "m.tz", "UTC")
    await fields.set_field(ALICE, "org.example.x", {"n": [1, 2], "big": 2**53})
    await fields.set_field(ALICE, "m.tz", "Europe/Paris")
    assert await fields.get_fields(ALICE) == {
        "m.tz": "Europe/Paris",
        "org.example.x": {"n": [1, 2], "big": 2**53},
    }
    assert await fields.delete_field(ALICE, "m.tz")
    assert not await fields.delete_field(ALICE, "m.tz")
    assert await fields.delete_all(ALICE) == 1
    assert await fields.get_fields(ALICE) == {}


async def test_registration_token_claims_are_bounded(database: Database) -> None:
    stores = make_stores(database)
    sessions, tokens = stores.uia_sessions, stores.registration_tokens
    await tokens.create_token("once", uses_allowed=1, expiry_time=None)
    await tokens.create_token("exp", uses_allowed=None, expiry_time=100)
    for name in ("s1", "s2", "s3"):
        await sessions.create_session(name, method="POST", uri="/r", user_id=None, now_ts=1)
    stage = "m.login.registration_token"
    assert await sessions.mark_completed("s1", stage, now_ts=2, registration_token="once")
    # The single use is pending: a second session cannot claim it.
    assert await sessions.mark_completed("s2", stage, now_ts=2, registration_token="once") is None
    s2 = await sessions.get_session("s2")
    assert s2 is not None and s2.completed == () and s2.registration_token is None
    assert await sessions.mark_completed("s3", stage, now_ts=99, registration_token="exp")
    assert await sessions.mark_completed("s2", stage, now_ts=100, registration_token="exp") is None
    token = await tokens.get_token("once")
    assert token is not None and token.pending == 1
