/** The link page's elements, found once, and the few ways the page changes them. */

function element<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`the page lacks #${id}`);
  return found;
}

export class LinkView {
  readonly status = element("status", HTMLElement);
  readonly problem = element("problem", HTMLElement);
  readonly unlock = element("unlock", HTMLFormElement);
  readonly password = element("password", HTMLInputElement);
  readonly file = element("file", HTMLElement);
  readonly name = element("file-name", HTMLElement);
  readonly size = element("file-size", HTMLElement);
  readonly download = element("download", HTMLButtonElement);
  readonly progress = element("progress", HTMLProgressElement);

  /** Say where things stand; *state* goes on the body for styling and tests. */
  say(text: string, state: string): void {
    this.status.textContent = text;
    document.body.dataset.state = state;
  }

  /** Show a problem; *code* goes on the body, so a test can tell the cases apart. */
  fail(text: string, code: string): void {
    this.problem.textContent = text;
    this.problem.hidden = false;
    document.body.dataset.state = "error";
    document.body.dataset.error = code;
  }

  clearProblem(): void {
    this.problem.hidden = true;
    this.problem.textContent = "";
    delete document.body.dataset.error;
  }

  workerUrl(name: string): string | undefined {
    try {
      const urls: unknown = JSON.parse(document.body.dataset.workers ?? "{}");
      const url = (urls as Record<string, unknown>)[name];
      return typeof url === "string" ? url : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Return *bytes* as a person reads a size: decimal units, as the CLI prints them. */
export function humanSize(bytes: number): string {
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
