/** The link page's elements, found once, and the few ways the page changes them. */
import { element } from "../ui/elements";

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
