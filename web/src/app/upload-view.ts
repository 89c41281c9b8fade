/**
 * Draw the upload queue: one list item per file, made once and updated in place (progress, words,
 * which buttons show), and the total. Text only, never HTML: file names are the person's input.
 */
import { humanSize } from "../ui/sizes";
import type { UploadQueue, UploadTask } from "./uploads";

interface Row {
  readonly item: HTMLLIElement;
  readonly progress: HTMLProgressElement;
  readonly words: HTMLSpanElement;
  readonly pause: HTMLButtonElement;
  readonly resume: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
}

function button(text: string, label: string, action: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", action);
  return b;
}

export class UploadView {
  private readonly rows = new Map<number, Row>();
  private queue: UploadQueue | null = null;

  constructor(
    private readonly list: HTMLElement,
    private readonly total: HTMLProgressElement,
    private readonly totalWords: HTMLElement,
  ) {}

  attach(queue: UploadQueue): void {
    this.queue = queue;
  }

  /** Update *task*'s row (made on first sight) and the total. */
  draw(task: UploadTask): void {
    const row = this.rows.get(task.id) ?? this.make(task);
    const name = task.file.name;
    row.progress.value = task.file.size === 0 ? (task.state === "done" ? 1 : 0) : task.bytes / task.file.size;
    row.words.textContent = this.words(task);
    row.item.dataset.state = task.state;
    row.pause.hidden = task.state !== "uploading" && task.state !== "queued";
    row.resume.hidden = task.state !== "paused" && task.state !== "failed";
    row.cancel.hidden = task.state === "done" || task.state === "cancelled";
    row.resume.textContent = task.state === "failed" ? "Retry" : "Resume";
    row.resume.setAttribute("aria-label", `${task.state === "failed" ? "Retry" : "Resume"} upload of ${name}`);
    this.drawTotal();
  }

  private words(task: UploadTask): string {
    const size = task.file.size;
    switch (task.state) {
      case "queued":
        return `waiting · ${humanSize(size)}`;
      case "uploading":
        return task.meter.describe(task.bytes, size);
      case "paused":
        return `paused at ${humanSize(task.bytes)} of ${humanSize(size)}`;
      case "done":
        return `uploaded · ${humanSize(size)}`;
      case "cancelled":
        return "cancelled";
      case "failed":
        return `failed: ${task.problem ?? "unknown error"}`;
    }
  }

  private drawTotal(): void {
    if (this.queue === null) return;
    const { bytes, total } = this.queue.totals();
    const running = this.queue.tasks.filter((t) => t.state === "uploading" || t.state === "queued").length;
    this.total.value = total === 0 ? 1 : bytes / total;
    const meter = this.queue.tasks.find((t) => t.state === "uploading")?.meter;
    const detail = meter ? meter.describe(bytes, total) : `${humanSize(bytes)} of ${humanSize(total)}`;
    this.totalWords.textContent = running === 0 ? `All uploads ended · ${detail}` : `${running} to go · ${detail}`;
  }

  private make(task: UploadTask): Row {
    const queue = this.queue;
    const name = task.file.name;
    const item = document.createElement("li");
    const title = document.createElement("span");
    title.className = "file-name";
    title.textContent = name;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.setAttribute("aria-label", `Upload progress of ${name}`);
    const words = document.createElement("span");
    words.setAttribute("role", "status");
    words.setAttribute("aria-label", `Upload status of ${name}`);
    const row: Row = {
      item,
      progress,
      words,
      pause: button("Pause", `Pause upload of ${name}`, () => queue?.pause(task)),
      resume: button("Resume", `Resume upload of ${name}`, () => queue?.resume(task)),
      cancel: button("Cancel", `Cancel upload of ${name}`, () => void queue?.cancel(task)),
    };
    const buttons = document.createElement("span");
    buttons.append(row.pause, row.resume, row.cancel);
    item.append(title, " ", words, progress, buttons);
    this.list.append(item);
    this.rows.set(task.id, row);
    return row;
  }
}
