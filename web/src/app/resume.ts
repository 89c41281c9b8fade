/**
 * Keep the upload queue's plans in the ResumeStore, and open them again after a reload: the file
 * chosen again must be the same (its fingerprint), the record still pending, and the stored key
 * must open with the user's private key and match the record's commitment.
 */
import type { FilesApi } from "../api/files";
import { ApiError } from "../api/http";
import { b64decode, b64encode } from "../format/encoding";
import { type UserKeys, checkKeyCommitment, openFileKey, sealFileKey } from "../format/keys";
import { difference, fingerprint } from "../upload/fingerprint";
import type { ResumeStore, SavedUpload } from "../upload/resume-store";
import type { UploadPlan } from "../upload/uploader";
import type { UploadTask } from "./uploads";

export class ResumeKeeper {
  private readonly chains = new Map<number, Promise<void>>();
  private readonly saved = new Map<number, Omit<SavedUpload, "done" | "savedAt">>();

  constructor(
    private readonly store: ResumeStore | null,
    private readonly owner: string,
    private readonly keys: UserKeys,
  ) {}

  /** Run *step* after the task's earlier steps, so its saves land in order; failures only lose resumability. */
  private then(task: UploadTask, step: () => Promise<void>): void {
    const next = (this.chains.get(task.id) ?? Promise.resolve()).then(step).catch(() => undefined);
    this.chains.set(task.id, next);
  }

  planned(task: UploadTask): void {
    const plan = task.plan;
    if (this.store === null || plan === null) return;
    this.then(task, async () => {
      this.saved.set(task.id, {
        fileId: plan.fileId,
        owner: this.owner,
        shard: plan.shard,
        chunkSize: plan.chunkSize,
        fingerprint: await fingerprint(task.file, plan.chunkSize),
        sealedKey: b64encode(sealFileKey(this.keys.public, plan.rawKey)), // SECURITY: sealed, never clear
      });
      await this.save(task, plan);
    });
  }

  stored(task: UploadTask): void {
    const plan = task.plan;
    if (plan !== null) this.then(task, () => this.save(task, plan));
  }

  ended(task: UploadTask): void {
    const plan = task.plan;
    const store = this.store;
    if (plan !== null && store !== null) this.then(task, () => store.remove(plan.fileId));
  }

  private async save(task: UploadTask, plan: UploadPlan): Promise<void> {
    const base = this.saved.get(task.id);
    if (base === undefined || this.store === null || task.state === "done" || task.state === "cancelled") return;
    await this.store.put({ ...base, done: [...plan.done.entries()], savedAt: Date.now() });
  }

  async unfinished(): Promise<SavedUpload[]> {
    return this.store === null ? [] : this.store.list(this.owner);
  }

  /** Check *file* is the one *saved* was uploading and open its plan; throw ApiError saying why not. */
  async reopen(saved: SavedUpload, file: File, files: FilesApi): Promise<UploadPlan> {
    const was = saved.fingerprint;
    const changed = difference(was, await fingerprint(file, saved.chunkSize));
    if (changed !== null) {
      throw new ApiError("not_the_same_file", 0, `This is not the file that upload was sending: ${changed}. Choose ${was.name} as it was`);
    }
    let record;
    try {
      record = await files.get(saved.fileId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) await this.store?.remove(saved.fileId);
      throw error;
    }
    if (record.state !== "pending") {
      await this.store?.remove(saved.fileId);
      throw new ApiError("upload_ended", 0, `The upload of ${was.name} already ended: it is in your files`);
    }
    // SECURITY: the stored key opens only with the private key, and must be the record's own.
    const rawKey = openFileKey(this.keys, b64decode(saved.sealedKey));
    checkKeyCommitment(rawKey, b64decode(String(record.key_commitment ?? "")), "the key of the unfinished upload");
    return {
      fileId: saved.fileId,
      rawKey,
      shard: saved.shard,
      chunkSize: saved.chunkSize,
      size: was.size,
      done: new Map(saved.done),
      confirm: true,
    };
  }

  /** Drop an unfinished upload: its pending record on the server, and its state here. */
  async forget(saved: SavedUpload, files: FilesApi): Promise<void> {
    await files.remove(saved.fileId).catch(() => undefined);
    await this.store?.remove(saved.fileId);
  }
}
