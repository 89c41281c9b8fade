/**
 * What the link page tells a person when something goes wrong, by error code: what happened and
 * what to do (the words follow client/link_download.py's). SECURITY: no message repeats the key.
 */
import { ApiError, NETWORK } from "../api/http";
import { FormatError } from "../format/errors";

const WORDS: Readonly<Record<string, string>> = {
  link_not_found:
    "There is no such link. The file it shared was probably deleted, and its links with it: ask the person who shared it for a new link.",
  link_revoked: "This link was revoked by the person who shared it: ask them for a new one.",
  link_expired: "This link has expired: ask the person who shared it for a new one.",
  link_exhausted:
    "This link was used for as many downloads as its owner allowed: ask the person who shared it for a new one.",
  file_expired: "The file behind this link has expired and was deleted.",
  file_gone: "The file behind this link is not available any more.",
  download_expired: "This download took longer than the link allows: reload the page to start again.",
  download_not_found: "The server no longer knows this download: reload the page to start again.",
  download_used_up: "This download was given all the tickets one download may have: reload the page to start again.",
  link_key_missing:
    "This link has no key after its '#'. Some apps cut off that part when they pass a link on: ask the sender for the whole link, or copy it again whole.",
  link_malformed:
    "The key after the link's '#' is not one Coffer can read: it was cut or changed on the way. Ask the sender for the whole link, or copy it again whole.",
  link_address:
    "This address is not a whole Coffer link: the part after /s/ was cut or changed on the way. Ask the sender for the whole link, or copy it again whole.",
  link_password_needed: "This link is locked with a password: type the password the sender gave you.",
  link_password_wrong:
    "The password is wrong, or the link was changed on the way: check the password with the sender, and that you have the whole link.",
  key_mismatch:
    "The link's key does not match this file: the part after '#' was changed or cut on the way. Ask the sender for the whole link again.",
  integrity:
    "The file failed its integrity check: what the fileservers sent is damaged or was altered, so nothing was saved. Try again later, or tell the person who shared it.",
  unknown_format:
    "This file was written by a newer version of Coffer than this page: reload the page, or ask the administrator to update Coffer.",
  [NETWORK]: "Coffer's server could not be reached: check your connection and try again.",
  no_fileserver:
    "None of the fileservers holding this file answered: try again in a few minutes, or tell the person who shared it.",
  rate_limited: "Too many requests from your address just now: wait a minute and try again.",
};

/** Return the sentence to show for *error*. */
export function explain(error: unknown): string {
  if (error instanceof ApiError || error instanceof FormatError) {
    const code = error.code === "link_malformed" ? malformed(error.message) : error.code;
    return WORDS[code] ?? `Something went wrong: ${error.message}.`;
  }
  return "Something went wrong in this page. Reload it and try again.";
}

/** Tell a link of a newer format, and an address that is not a link, from a key that was cut. */
function malformed(message: string): string {
  if (/in format v\d+/.test(message)) return "unknown_format";
  return message.includes("after '#'") ? "link_malformed" : "link_address";
}

/** Return the error's code, for tests and the page's data attributes. */
export function codeOf(error: unknown): string {
  return error instanceof ApiError || error instanceof FormatError ? error.code : "unexpected";
}
