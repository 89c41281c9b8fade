/**
 * JSON over fetch, with the server's error body (`{"error", "message"}`) turned into an ApiError.
 *
 * Requests carry no credentials and no referrer: the link page has no account, and a URL of
 * this page may hold a key after '#', which browsers never send, and which this module never sees.
 */

/** A refusal from the server or a fileserver, with its machine-readable code; or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The code of a request that got no answer at all (offline, refused, CORS). */
export const NETWORK = "network";

export async function requestJson(
  method: string,
  url: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      headers: body === undefined ? { ...headers } : { ...headers, "Content-Type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(NETWORK, 0, "the server could not be reached");
  }
  const data: unknown = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw errorOf(response.status, data);
  }
  return data;
}

/** Return the ApiError an error answer stands for. */
export function errorOf(status: number, data: unknown): ApiError {
  const fields = (data !== null && typeof data === "object" ? data : {}) as Record<string, unknown>;
  const code = typeof fields.error === "string" ? fields.error : `http_${status}`;
  const message = typeof fields.message === "string" ? fields.message : `the server answered ${status}`;
  return new ApiError(code, status, message);
}
