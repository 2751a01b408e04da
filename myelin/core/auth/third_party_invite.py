"""Invites through a third-party invite (spec: "Room Versions", "Authorization rules").

Member sub-rule "If ``membership`` is ``invite``", step 1: "If ``content`` has a
``third_party_invite`` property" (rule 5.3.1 in v1-v5, 4.3.1 in v6-v7, 4.4.1 in v8-v11, 5.4.1
in v12), with the signature check of the ``signed`` block against the public keys of the
``m.room.third_party_invite`` event (spec: Appendices, "Checking for a Signature").
"""

from collections.abc import Iterator, Mapping
from typing import Any

from myelin.core.auth.common import BAN, THIRD_PARTY_INVITE, AuthState, membership_of, reject
from myelin.core.errors import SignatureError
from myelin.core.events import EventView
from myelin.core.signing import VerifyKey, verify_signature


def public_keys_of(third_party_invite_event: EventView) -> list[str]:
    """The base64 public keys of an ``m.room.third_party_invite`` event.

    "A single public key in the ``public_key`` property" and "a list of public keys in the
    ``public_keys`` property" (each an object with a ``public_key``).
    """
    content = third_party_invite_event.content
    keys: list[str] = []
    single = content.get("public_key")
    if isinstance(single, str):
        keys.append(single)
    listed = content.get("public_keys")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, Mapping) and isinstance(entry.get("public_key"), str):
                keys.append(entry["public_key"])
    return keys


def _signatures_in(signed: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (signing server, key ID) pair of ``signed.signatures``."""
    signatures = signed.get("signatures")
    if not isinstance(signatures, Mapping):
        return
    for server, by_key in signatures.items():
        if isinstance(server, str) and isinstance(by_key, Mapping):
            for key_id in by_key:
                if isinstance(key_id, str):
                    yield server, key_id


def signed_matches_a_public_key(signed: Mapping[str, Any], public_keys: list[str]) -> bool:
    """Whether any signature in ``signed`` verifies with any of ``public_keys``."""
    for server, key_id in _signatures_in(signed):
        for public_key in public_keys:
            try:
                verify_key = VerifyKey.decode(key_id, public_key)
                verify_signature(signed, server, verify_key)
            except SignatureError:
                continue
            return True
    return False


def check_third_party_invite(rule: str, event: EventView, auth_state: AuthState) -> None:
    """Step 1 of the invite rule, numbered ``rule`` (e.g. ``"4.3.1"``): returns if allowed.

    Every failing sub-step raises ``AuthError``; reaching the end means "allow" (sub-step 7).
    """
    target = event.state_key or ""
    # .1: If target user is banned, reject.
    if membership_of(auth_state, target) == BAN:
        raise reject(f"{rule}.1", "the invited user is banned")
    third_party_invite = event.content.get("third_party_invite")
    signed = third_party_invite.get("signed") if isinstance(third_party_invite, Mapping) else None
    # .2: If content.third_party_invite does not have a signed property, reject.
    if not isinstance(signed, Mapping):
        raise reject(f"{rule}.2", "third_party_invite has no signed property")
    mxid = signed.get("mxid")
    token = signed.get("token")
    # .3: If signed does not have mxid and token properties, reject.
    if not isinstance(mxid, str) or not isinstance(token, str):
        raise reject(f"{rule}.3", "signed has no mxid and token")
    # .4: If mxid does not match state_key, reject.
    if mxid != target:
        raise reject(f"{rule}.4", "signed.mxid is not the invited user")
    # .5: If there is no m.room.third_party_invite event in the current room state with
    # state_key matching token, reject.
    invite_event = auth_state.get((THIRD_PARTY_INVITE, token))
    if invite_event is None:
        raise reject(f"{rule}.5", "no m.room.third_party_invite event for the token")
    # .6: If sender does not match sender of the m.room.third_party_invite, reject.
    if invite_event.sender != event.sender:
        raise reject(f"{rule}.6", "the sender did not send the third-party invite")
    # .7: If any signature in signed matches any public key in the m.room.third_party_invite
    # event, allow.
    if signed_matches_a_public_key(signed, public_keys_of(invite_event)):
        return
    # .8: Otherwise, reject.
    raise reject(f"{rule}.8", "no signature in signed matches the invite's public keys")
