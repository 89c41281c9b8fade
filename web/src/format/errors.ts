/**
 * The format's errors, as format/errors.py has them: each class carries the same stable `code`,
 * so the page tells apart the cases the Python client tells apart ("wrong password" is not "the
 * link was cut"). The UI turns a code into words for a person; these messages are for logs and tests.
 *
 * FormatError
 * ├── IntegrityError          ciphertext or a record fails its checks
 * │   └── KeyMismatch         a file key is not the one the record's commitment names
 * ├── UnknownFormatVersion    a record written in a format version this page cannot read
 * ├── LinkPasswordWrong       a locked link does not open: wrong password, or the link was changed
 * └── BadInput                text a person gave is in no form the format reads
 *     ├── LinkMalformed
 *     ├── LinkKeyMissing
 *     ├── LinkPasswordNeeded
 *     ├── PasswordUnusable
 *     └── FingerprintMalformed
 */

export class FormatError extends Error {
  readonly code: string = "format";
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class IntegrityError extends FormatError {
  override readonly code: string = "integrity";
}

export class KeyMismatch extends IntegrityError {
  override readonly code: string = "key_mismatch";
}

export class UnknownFormatVersion extends FormatError {
  override readonly code: string = "unknown_format";
}

export class LinkPasswordWrong extends FormatError {
  override readonly code: string = "link_password_wrong";
}

export class BadInput extends FormatError {
  override readonly code: string = "usage";
}

export class LinkMalformed extends BadInput {
  override readonly code: string = "link_malformed";
}

export class LinkKeyMissing extends BadInput {
  override readonly code: string = "link_key_missing";
}

export class LinkPasswordNeeded extends BadInput {
  override readonly code: string = "link_password_needed";
}

export class PasswordUnusable extends BadInput {}

export class FingerprintMalformed extends BadInput {}
