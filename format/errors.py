"""The format's errors: data that does not open or check, and input in no form of the format.

These say nothing of exit codes or HTTP: a program that shows them decides that
(the client's ``errors.exit_code``). Every class has a stable ``code``.

CofferError (protocol.errors)
└── FormatError
    ├── IntegrityError              ciphertext or a record fails its checks: altered, moved, cut, or not ours
    │   └── KeyMismatch             a file key is not the one the record's commitment names
    ├── UnknownFormatVersion        a file record was written in a format version this code cannot read
    ├── CryptoUnavailable           this machine lacks what the format needs (AES instructions)
    ├── LinkPasswordWrong           a locked link does not open: wrong password, or the link was changed
    └── BadInput                    text a person gave is in no form the format reads
        ├── LinkMalformed           not a share link: .../s/<link id>[#key], or a key in an unknown form
        ├── LinkKeyMissing          the link lost its key, the part after '#'
        ├── LinkPasswordNeeded      the link is locked and no password was given
        ├── PasswordUnusable        a password that is empty or not valid text
        └── FingerprintMalformed    not 32 hex digits
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError


class FormatError(CofferError):
    """Something about format-v1 bytes or text is wrong; the message says what and what to do."""

    code = "format"


class IntegrityError(FormatError):
    """Ciphertext failed to open: it was altered, reordered, truncated, or is not ours."""

    code = "integrity"


class KeyMismatch(IntegrityError):
    """A file key does not match the commitment in the file's record: the key was changed, or the record."""

    code = "key_mismatch"


class UnknownFormatVersion(FormatError):
    """A file record names a format version this code does not implement: a newer client wrote it."""

    code = "unknown_format"


class CryptoUnavailable(FormatError):
    """This machine cannot run the format: PyNaCl's AES-256-GCM needs the CPU's AES instructions."""

    code = "crypto_unavailable"


class LinkPasswordWrong(FormatError):
    """The locked key did not open: the password is wrong, or the link was changed."""

    code = "link_password_wrong"


class BadInput(FormatError):
    """Text a person typed or pasted is not in a form the format reads: they must fix it."""

    code = "usage"


class LinkMalformed(BadInput):
    """The text is not a Coffer share link, or the key after its '#' is not in a form this client reads."""

    code = "link_malformed"


class LinkKeyMissing(BadInput):
    """The link has no key after '#': an app on the way cut it off."""

    code = "link_key_missing"


class LinkPasswordNeeded(BadInput):
    """The link's key is locked with a password and none was given."""

    code = "link_password_needed"


class PasswordUnusable(BadInput):
    """A link password that is empty, or text that cannot be encoded as UTF-8."""


class FingerprintMalformed(BadInput):
    """A typed fingerprint that is not 32 hex digits."""
