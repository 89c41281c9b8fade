/** The format version every file record carries, checked before any byte of a record is opened. */
import { UnknownFormatVersion } from "./errors";

export const FORMAT_VERSION = 1;
export const READABLE_VERSIONS: ReadonlySet<number> = new Set([1]);

/** Return a record's format version (1 when absent), or throw UnknownFormatVersion naming the file. */
export function recordVersion(record: { readonly format?: unknown; readonly id?: unknown }): number {
  const version = record.format ?? 1;
  if (typeof version === "number" && Number.isInteger(version) && READABLE_VERSIONS.has(version)) {
    return version;
  }
  const shown = typeof version === "number" && Number.isInteger(version) ? `v${version}` : JSON.stringify(version);
  throw new UnknownFormatVersion(
    `file ${String(record.id ?? "?")} was written in format ${shown}, which this page cannot read ` +
      `(it reads format v${FORMAT_VERSION}): reload the page, or ask the administrator to update Coffer`,
  );
}
