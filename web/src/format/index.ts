/** The Coffer format, version 1, for the browser: the same names as the Python `coffer.format` package. */
export * as aead from "./aead";
export * as chunks from "./chunks";
export * as encoding from "./encoding";
export * as errors from "./errors";
export * as kdf from "./kdf";
export * as keys from "./keys";
export * as links from "./links";
export * as metadata from "./metadata";
export * as records from "./records";
export * as sha256 from "./sha256";
export * as shares from "./shares";
export * as sizes from "./sizes";
export * as sodium from "./sodium";
export * as version from "./version";
