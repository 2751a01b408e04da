"""Local accounts: user ID grammar for new users, bcrypt hashes, refusing existing users."""

from typing import Any

import bcrypt
import pytest

from myelin.services.accounts import (
    AccountService,
    InvalidUsernameError,
    UserInUseError,
    check_password,
    hash_password,
    local_user_id,
)
from myelin.storage import Database, make_stores
from tests.api.conftest import FakeClock


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", "@alice:example.org"),
        ("@alice:example.org", "@alice:example.org"),
        ("a.b_c=d-e/f+g", "@a.b_c=d-e/f+g:example.org"),
        ("0123", "@0123:example.org"),
    ],
)
def test_local_user_id(user: str, expected: str) -> None:
    assert local_user_id(user, "example.org") == expected


@pytest.mark.parametrize(
    "user",
    ["Alice", "al ice", "", "al:ice", "@alice:other.org", "@Alice:example.org", "é", "a" * 250],
)
def test_local_user_id_refuses(user: str) -> None:
    with pytest.raises(InvalidUsernameError):
        local_user_id(user, "example.org")


def test_password_hash_is_synapse_compatible_bcrypt() -> None:
    hashed = hash_password("pässword", 4)
    assert hashed.startswith("$2b$04$")
    assert check_password("pässword", hashed)
    assert not check_password("password", hashed)
    # A hash made directly with bcrypt (as Synapse does, without pepper) verifies.
    direct = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    assert check_password("secret", direct)
    assert not check_password("secret", "not a hash")


def test_long_passwords_use_the_first_72_bytes() -> None:
    hashed = hash_password("x" * 100, 4)
    assert check_password("x" * 72, hashed)
    assert not check_password("x" * 71, hashed)


async def test_register_user(database: Database) -> None:
    clock = FakeClock()
    accounts = AccountService("example.org", make_stores(database).users, clock, 4)
    user_id = await accounts.register_user("alice", "pw", admin=True)
    assert user_id == "@alice:example.org"
    record: Any = await make_stores(database).users.get_user(user_id)
    assert record.admin and record.created_ts == clock.now
    assert check_password("pw", record.password_hash)
    assert await accounts.user_exists("alice")
    assert not await accounts.user_exists("bob")
    with pytest.raises(UserInUseError):
        await accounts.register_user("@alice:example.org", "other", admin=False)
    with pytest.raises(InvalidUsernameError):
        await accounts.register_user("BOB", "pw", admin=False)
    assert await accounts.register_user("nopassword", None, admin=False)
    record = await make_stores(database).users.get_user("@nopassword:example.org")
    assert record.password_hash is None
