"""Rotate a user's key pair on their own client: new pair and password, file keys sealed again, shares re-boxed.

What it does, in order (each step may be interrupted; running it again finishes it):

1. check the current password by opening the stored private key with it, make a new pair
   here, and send the new password's auth key, the new pair (wrapped under the new master
   key) and the old private key (wrapped under the same new master key) — or, if a rotation
   is unfinished, take both pairs back from the server with the current password;
2. open every file key of the user's own files with the old pair, seal it to the new public
   key and send them a page at a time;
3. box each of the user's shares again with the new pair, for recipients whose key this
   client already trusts (pinned or seen); the others are listed to share again by hand;
4. drop the old pair on the server and list the files others shared with the user: their
   boxes were made for the old key, and only their owners can make new ones.

SECURITY: both private keys and every file key stay in this process. A file key that a
holder of the old private key opened before stays known to them: rotation protects what is
sealed from now on; a file whose key leaked must be uploaded again to get a new key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from coffer.format import kdf
from coffer.format.errors import IntegrityError
from coffer.format.keys import UserKeys, open_file_key, seal_file_key, unwrap_private_key, wrap_private_key
from coffer.format.shares import fingerprint
from coffer.protocol.api.auth import Me, WrappedKeys
from coffer.protocol.api.keys import MAX_RESEALED, Reseal, ResealedKey, RotateKeys, StaleShare
from coffer.protocol.encoding import b64decode, b64encode

from . import errors, sharing
from .api import ServerClient, checked_kdf_params
from .pins import KnownKeys


@dataclass
class RotationReport:
    """What a rotation did, and what is left for people to do."""

    fingerprint: str
    resumed: bool
    resealed: int = 0
    unopened: list[str] = field(default_factory=list)
    """Own files whose key opened with neither pair (damaged records): left as they were."""
    reshared: list[tuple[str, str]] = field(default_factory=list)
    share_by_hand: list[tuple[str, str, str]] = field(default_factory=list)
    """(file id, user, why) for shares this client did not box again."""
    stale_incoming: list[StaleShare] = field(default_factory=list)


def unfinished(me: Me) -> bool:
    """Say whether the account has a rotation that was started and not finished."""
    return bool(me.previous_public_key and me.previous_wrapped_private_key)


def _pair(master_key: bytes, wrapped: str | None, public: str | None) -> UserKeys:
    if not (wrapped and public):
        raise errors.ApiError("the server has no key pair for this account: log in once first", code="keys_missing")
    return unwrap_private_key(master_key, b64decode(wrapped), b64decode(public))


def _start(api: ServerClient, me: Me, current: kdf.PasswordKeys, new_password: str) -> tuple[UserKeys, UserKeys]:
    """Send the new password's keys and a pair made here; return (old pair, new pair)."""
    old = _pair(current.master_key, me.wrapped_private_key, me.public_key)  # checks the password here first
    params = kdf.KdfParams(salt=os.urandom(kdf.SALT_BYTES))
    new_derived = kdf.derive(new_password, params)  # SECURITY: the new master key stays in this process
    new = UserKeys.generate()
    api.start_key_rotation(
        RotateKeys(
            current.auth_key,
            params,
            new_derived.auth_key,
            WrappedKeys(new.public, wrap_private_key(new_derived.master_key, new)),
            wrap_private_key(new_derived.master_key, old),
        )
    )
    return old, new


def _reseal(api: ServerClient, old: UserKeys, new: UserKeys, report: RotationReport) -> list[str]:
    """Seal every own file's key to *new*, a page at a time; return the ids of the complete files."""
    page: list[ResealedKey] = []
    complete: list[str] = []
    for record in api.list_files():
        if record.state == "complete":
            complete.append(record.id)
        sealed = b64decode(record.sealed_key)
        try:
            open_file_key(new, sealed)
            continue  # sealed again by an earlier, interrupted run
        except IntegrityError:
            pass
        try:
            key = open_file_key(old, sealed)
        except IntegrityError:
            report.unopened.append(record.id)
            continue
        page.append(ResealedKey(record.id, b64encode(seal_file_key(new.public, key))))
        if len(page) == MAX_RESEALED:
            report.resealed += api.reseal_file_keys(Reseal(tuple(page))).updated
            page = []
    if page:
        report.resealed += api.reseal_file_keys(Reseal(tuple(page))).updated
    return complete


def _reshare(api: ServerClient, keys: UserKeys, pins: KnownKeys, files: list[str], report: RotationReport) -> None:
    """Box each stale share again with the new pair, to recipients whose key this client already knows."""
    for file_id in files:
        for entry in api.file_shares(file_id):
            if not entry.stale:
                continue
            recipient = sharing.public_key_of(api, entry.user)
            try:
                # SECURITY: never box to a key met for the first time here: nobody compared it.
                if pins.check(entry.user, recipient.public_key):
                    why = "no key of theirs is pinned on this machine: compare the fingerprint the share shows"
                    report.share_by_hand.append((file_id, entry.user, why))
                    continue
                sharing.share(api, keys, pins, file_id, entry.user)
            except errors.KeyChanged as exc:
                report.share_by_hand.append((file_id, entry.user, exc.message))
                continue
            report.reshared.append((file_id, entry.user))


def rotate(
    api: ServerClient,
    username: str,
    pins: KnownKeys,
    current_password: str,
    new_password: str | None,
    on_keys: Callable[[UserKeys], None],
) -> RotationReport:
    """Rotate (or finish rotating) *username*'s key pair; *on_keys* gets the new pair as soon as it is live.

    *new_password* is required to start a rotation and unused when finishing one (the
    password changed when it started). Raises IntegrityError for a wrong current password.
    """
    me = api.me()
    current = kdf.derive(current_password, checked_kdf_params(api.prelogin(username, again=True)))
    resumed = unfinished(me)
    if resumed:
        old = _pair(current.master_key, me.previous_wrapped_private_key, me.previous_public_key)
        new = _pair(current.master_key, me.wrapped_private_key, me.public_key)
    else:
        if new_password is None:
            raise errors.UsageError("a new password is needed to start a key rotation")
        old, new = _start(api, me, current, new_password)
    on_keys(new)
    report = RotationReport(fingerprint(new.public), resumed)
    complete = _reseal(api, old, new, report)
    _reshare(api, new, pins, complete, report)
    report.stale_incoming = list(api.finish_key_rotation().stale_shares)
    return report
