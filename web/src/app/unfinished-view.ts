/**
 * Draw the unfinished uploads found after a reload: each asks for its file again (a file input
 * labelled with the file's name) and can be forgotten. Text only, never HTML.
 */
import type { SavedUpload } from "../upload/resume-store";
import * as sizes from "../format/sizes";

export interface UnfinishedActions {
  chosen(saved: SavedUpload, file: File): void;
  forget(saved: SavedUpload): void;
}

export function drawUnfinished(
  section: HTMLElement,
  list: HTMLElement,
  saved: readonly SavedUpload[],
  actions: UnfinishedActions,
): void {
  section.hidden = saved.length === 0;
  list.replaceChildren(
    ...saved.map((upload, n) => {
      const name = upload.fingerprint.name;
      const count = sizes.chunkCount(upload.fingerprint.size, upload.chunkSize);
      const item = document.createElement("li");
      const title = document.createElement("span");
      title.className = "file-name";
      title.textContent = name;
      const words = document.createElement("span");
      words.textContent = ` · ${upload.done.length} of ${count} chunks stored · `;
      const label = document.createElement("label");
      label.htmlFor = `resume-${n}`;
      label.textContent = `Choose ${name} again to resume`;
      const input = document.createElement("input");
      input.type = "file";
      input.id = `resume-${n}`;
      input.addEventListener("change", () => {
        const file = input.files?.[0];
        input.value = "";
        if (file) actions.chosen(upload, file);
      });
      const forget = document.createElement("button");
      forget.type = "button";
      forget.textContent = "Forget";
      forget.setAttribute("aria-label", `Forget the upload of ${name}`);
      forget.addEventListener("click", () => actions.forget(upload));
      item.append(title, words, label, input, forget);
      return item;
    }),
  );
}
