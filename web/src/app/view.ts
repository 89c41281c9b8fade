/** The app page's elements, and drawing the file list. */
import { element } from "../ui/elements";
import { humanSize } from "../ui/sizes";
import type { FileRow } from "./files";

export class AppView {
  readonly status = element("status", HTMLElement);
  readonly problem = element("problem", HTMLElement);
  readonly signin = element("signin", HTMLFormElement);
  readonly username = element("username", HTMLInputElement);
  readonly password = element("password", HTMLInputElement);
  readonly files = element("files", HTMLElement);
  readonly who = element("who", HTMLElement);
  readonly filter = element("filter", HTMLInputElement);
  readonly sort = element("sort", HTMLSelectElement);
  readonly rows = element("file-rows", HTMLTableSectionElement);
  readonly signout = element("signout", HTMLButtonElement);
  readonly fileInput = element("file-input", HTMLInputElement);
  readonly dropzone = element("dropzone", HTMLElement);
  readonly uploads = element("uploads", HTMLUListElement);
  readonly totalProgress = element("total-progress", HTMLProgressElement);
  readonly totalWords = element("total-words", HTMLElement);
  readonly unfinished = element("unfinished", HTMLElement);
  readonly passwordForm = element("password-form", HTMLFormElement);
  readonly oldPassword = element("old-password", HTMLInputElement);
  readonly newPassword = element("new-password", HTMLInputElement);
  readonly newPasswordAgain = element("new-password-again", HTMLInputElement);
  readonly unfinishedList = element("unfinished-list", HTMLUListElement);

  workerUrl(name: string): string | undefined {
    try {
      const urls: unknown = JSON.parse(document.body.dataset.workers ?? "{}");
      const url = (urls as Record<string, unknown>)[name];
      return typeof url === "string" ? url : undefined;
    } catch {
      return undefined;
    }
  }

  say(text: string, state: string): void {
    this.status.textContent = text;
    document.body.dataset.state = state;
  }

  fail(text: string): void {
    this.problem.textContent = text;
    this.problem.hidden = false;
  }

  clearProblem(): void {
    this.problem.hidden = true;
    this.problem.textContent = "";
  }

  /** Draw *rows* into the table, with the buttons *actions* makes for each; text only, never HTML. */
  draw(rows: readonly FileRow[], actions: (row: FileRow) => HTMLElement[] = () => []): void {
    this.rows.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        const cells = [
          row.name,
          row.size === null ? "—" : humanSize(row.size),
          row.expiresAt === null ? "never" : new Date(row.expiresAt * 1000).toLocaleString(),
          row.problem !== null
            ? "cannot be opened"
            : row.owner !== null
              ? `shared by ${row.owner}`
              : row.state === "complete"
                ? "stored"
                : "uploading",
        ];
        cells.forEach((text, i) => {
          const cell = document.createElement(i === 0 ? "th" : "td");
          if (i === 0) cell.scope = "row";
          cell.textContent = text;
          if (i === 3 && row.problem !== null) cell.title = row.problem;
          tr.append(cell);
        });
        const cell = document.createElement("td");
        cell.append(...actions(row));
        tr.append(cell);
        return tr;
      }),
    );
  }
}
