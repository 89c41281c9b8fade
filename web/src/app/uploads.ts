/**
 * The upload queue of the app page: files wait their turn, one uploads at a time (its chunks in
 * parallel), and each can be paused, resumed or cancelled. A paused upload keeps its plan (what
 * was stored), so resuming sends only the rest; a cancelled one deletes its pending record.
 */
import type { FilesApi } from "../api/files";
import type { UserKeys } from "../format/keys";
import type { ChunkSealer } from "../upload/sealer";
import type { StoredChunk } from "../upload/sender";
import { type UploadOptions, type UploadPlan, Uploader, createUpload } from "../upload/uploader";
import { RateMeter } from "../ui/rate";

export type TaskState = "queued" | "uploading" | "paused" | "done" | "failed" | "cancelled";

/** One file to upload, and how it stands. */
export class UploadTask {
  state: TaskState = "queued";
  bytes = 0;
  problem: string | null = null;
  plan: UploadPlan | null = null;
  controller: AbortController | null = null;
  readonly meter = new RateMeter();

  constructor(
    readonly id: number,
    readonly file: File,
  ) {}
}

export interface QueueHooks {
  /** Something changed in *task*: redraw it. */
  changed(task: UploadTask): void;
  /** *task* has its record and plan (new, or restored after a reload): keep it for a resume. */
  planned(task: UploadTask): void;
  /** A file finished uploading: refresh the file list. */
  finished(task: UploadTask): void;
  /** *task* ended for good (uploaded or cancelled): its resume state is no longer needed. */
  ended(task: UploadTask): void;
  /** A chunk of *task* was stored (for the resume state). */
  stored(task: UploadTask, index: number, chunk: StoredChunk): void;
  /** Say what went wrong, for a person. */
  explain(error: unknown): string;
}

export class UploadQueue {
  readonly tasks: UploadTask[] = [];
  private running = false;
  private nextId = 0;

  constructor(
    private readonly api: FilesApi,
    private readonly keys: UserKeys,
    private readonly options: UploadOptions,
    private readonly sealer: () => ChunkSealer,
    private readonly hooks: QueueHooks,
  ) {}

  /** Queue *files* (a picker's or a drop's), and start if idle; return their tasks. */
  add(files: Iterable<File>, plans: ReadonlyMap<File, UploadPlan> = new Map()): UploadTask[] {
    const added = [...files].map((file) => {
      const task = new UploadTask(this.nextId++, file);
      task.plan = plans.get(file) ?? null;
      return task;
    });
    this.tasks.push(...added);
    added.forEach((task) => this.hooks.changed(task));
    void this.pump();
    return added;
  }

  pause(task: UploadTask): void {
    if (task.state !== "uploading" && task.state !== "queued") return;
    task.state = "paused";
    task.controller?.abort();
    this.hooks.changed(task);
  }

  resume(task: UploadTask): void {
    if (task.state !== "paused" && task.state !== "failed") return;
    task.state = "queued";
    task.problem = null;
    this.hooks.changed(task);
    void this.pump();
  }

  /** Stop *task* for good and delete its pending record on the server. */
  async cancel(task: UploadTask): Promise<void> {
    if (task.state === "done" || task.state === "cancelled") return;
    task.state = "cancelled";
    task.controller?.abort();
    this.hooks.changed(task);
    this.hooks.ended(task);
    if (task.plan !== null) await this.api.remove(task.plan.fileId).catch(() => undefined);
  }

  /** Total bytes stored and to store, over every task not cancelled. */
  totals(): { bytes: number; total: number } {
    const counted = this.tasks.filter((t) => t.state !== "cancelled");
    return {
      bytes: counted.reduce((sum, t) => sum + t.bytes, 0),
      total: counted.reduce((sum, t) => sum + t.file.size, 0),
    };
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let task = this.nextQueued(); task !== undefined; task = this.nextQueued()) {
        await this.upload(task);
      }
    } finally {
      this.running = false;
    }
  }

  private nextQueued(): UploadTask | undefined {
    return this.tasks.find((t) => t.state === "queued");
  }

  private planned = new Set<number>();

  private async upload(task: UploadTask): Promise<void> {
    const controller = new AbortController();
    task.controller = controller;
    task.state = "uploading";
    task.meter.reset();
    this.hooks.changed(task);
    const progress = ({ bytes }: { bytes: number }): void => {
      task.bytes = bytes;
      task.meter.note(bytes);
      this.hooks.changed(task);
    };
    try {
      task.plan ??= await createUpload(this.api, this.keys, task.file, this.options);
      if (!this.planned.has(task.id)) {
        this.planned.add(task.id);
        this.hooks.planned(task);
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      const stored = (index: number, chunk: StoredChunk): void => this.hooks.stored(task, index, chunk);
      await new Uploader(this.api, this.sealer, this.options, progress, stored).run(task.plan, task.file, controller.signal);
      task.state = "done";
      task.bytes = task.file.size;
      this.hooks.ended(task);
      this.hooks.finished(task);
    } catch (error) {
      if (task.state === "uploading") {
        task.state = "failed";
        task.problem = this.hooks.explain(error);
      }
      if ((task.state as TaskState) === "cancelled" && task.plan !== null) {
        await this.api.remove(task.plan.fileId).catch(() => undefined);
      }
    } finally {
      task.controller = null;
      this.hooks.changed(task);
    }
  }
}
