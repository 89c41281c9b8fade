/**
 * The app page at `/`: sign in, then the list of your files (name, size, expiry, state), sorted and
 * filtered in the page, each downloadable; and uploads, by the file picker or by dropping files.
 * Names are decrypted here; the server only ever holds them sealed.
 */
import { FilesApi } from "./api/files";
import { ApiError } from "./api/http";
import { FileActions } from "./app/file-actions";
import { type FileRow, type SortKey, fileRows, shownRows } from "./app/files";
import { type SignedIn, changePassword, signIn } from "./app/signin";
import { ResumeKeeper } from "./app/resume";
import { drawUnfinished } from "./app/unfinished-view";
import { UploadView } from "./app/upload-view";
import { UploadQueue } from "./app/uploads";
import { AppView } from "./app/view";
import { FormatError, IntegrityError } from "./format/errors";
import type { OwnerCheck } from "./format/records";
import { ready } from "./format/sodium";
import { ownerCheck } from "./share/owners";
import { Pins } from "./share/pins";
import { usePasswordWorker } from "./passwords/hashing";
import { registerSaver } from "./save/stream";
import { sweepStaged } from "./download/staged";
import { ResumeStore } from "./upload/resume-store";
import { chunkSealer } from "./upload/sealer";
import { DEFAULT_OPTIONS, type UploadOptions } from "./upload/uploader";

const view = new AppView();
const server = `${window.location.origin}${window.location.pathname.replace(/\/+$/, "")}`;
let session: SignedIn | null = null;
let rows: FileRow[] = [];
let queue: UploadQueue | null = null;
let actions: FileActions | null = null;
let owners: OwnerCheck | undefined;
const uploadView = new UploadView(view.uploads, view.totalProgress, view.totalWords);

/**
 * The upload options: the defaults, with `?chunk-size=N` (plaintext bytes, for tests and tuning)
 * and `?copies=N` taken from the page's address when given.
 */
function uploadOptions(): UploadOptions {
  const query = new URLSearchParams(window.location.search);
  const int = (name: string): number | null => {
    const value = Number(query.get(name) ?? "");
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  };
  return { ...DEFAULT_OPTIONS, chunkSize: int("chunk-size") ?? DEFAULT_OPTIONS.chunkSize, copies: int("copies") };
}

function explain(error: unknown): string {
  if (error instanceof ApiError && error.code === "bad_credentials") {
    return "The user name or password is wrong. Check both and try again.";
  }
  if (error instanceof ApiError && error.code === "network") {
    return "Coffer's server could not be reached: check your connection and try again.";
  }
  if (error instanceof IntegrityError) return `${error.message}: nothing was used of it.`;
  if (error instanceof ApiError || error instanceof FormatError) return `${error.message}.`;
  return "Something went wrong in this page. Reload it and try again.";
}

function redraw(): void {
  view.draw(shownRows(rows, view.filter.value, view.sort.value as SortKey), (row) => actions?.buttons(row) ?? []);
}

/** Read the user's own files and those shared with them; the sharers' keys meet the pins first. */
async function listed(signedIn: SignedIn): Promise<FileRow[]> {
  const [own, shared] = await Promise.all([signedIn.account.files(), signedIn.account.files(true)]);
  owners = await ownerCheck(new Pins(`${server}|${signedIn.name}`), shared);
  return [...(await fileRows(own, signedIn.keys)), ...(await fileRows(shared, signedIn.keys, owners))];
}

async function refresh(): Promise<void> {
  if (session === null) return;
  rows = await listed(session);
  redraw();
}

async function showUnfinished(keeper: ResumeKeeper, files: FilesApi): Promise<void> {
  const shown = await keeper.unfinished();
  const queued = new Set((queue?.tasks ?? []).flatMap((t) => (t.plan === null ? [] : [t.plan.fileId])));
  drawUnfinished(view.unfinished, view.unfinishedList, shown.filter((s) => !queued.has(s.fileId)), {
    chosen: (saved, file) => {
      view.clearProblem();
      keeper
        .reopen(saved, file, files)
        .then((plan) => {
          queue?.add([file], new Map([[file, plan]]));
          return showUnfinished(keeper, files);
        })
        .catch((error: unknown) => {
          view.fail(explain(error));
          void showUnfinished(keeper, files);
        });
    },
    forget: (saved) => void keeper.forget(saved, files).then(() => showUnfinished(keeper, files)),
  });
}

async function startUploads(signedIn: SignedIn): Promise<void> {
  const files = new FilesApi(signedIn.account);
  actions = new FileActions({
    files,
    keys: signedIn.keys,
    pins: new Pins(`${server}|${signedIn.name}`),
    server,
    chunkWorker: view.workerUrl("chunks"),
    stageWorker: view.workerUrl("stage"),
    owner: `${server}|${signedIn.name}`,
    ownerCheck: () => owners,
    say: (text, state) => view.say(text, state),
    fail: (text) => view.fail(text),
    clearProblem: () => view.clearProblem(),
    explain,
    refresh,
  });
  const keeper = new ResumeKeeper(await ResumeStore.open(), `${server}|${signedIn.name}`, signedIn.keys);
  queue = new UploadQueue(files, signedIn.keys, uploadOptions(), () => chunkSealer(view.workerUrl("seal")), {
    changed: (task) => uploadView.draw(task),
    planned: (task) => keeper.planned(task),
    stored: (task) => keeper.stored(task),
    ended: (task) => keeper.ended(task),
    finished: () => void refresh().catch((error: unknown) => view.fail(explain(error))),
    explain,
  });
  uploadView.attach(queue);
  await actions.loadStaged();
  redraw();
  await showUnfinished(keeper, files);
}

async function showFiles(signedIn: SignedIn): Promise<void> {
  view.say("Opening your files…", "loading");
  rows = await listed(signedIn);
  await startUploads(signedIn);
  view.who.textContent = signedIn.name;
  view.signin.hidden = true;
  view.files.hidden = false;
  redraw();
  view.say(`${rows.length} ${rows.length === 1 ? "file" : "files"}.`, "files");
}

view.signin.addEventListener("submit", (event) => {
  event.preventDefault();
  view.clearProblem();
  view.say("Signing in…", "signing-in");
  const username = view.username.value.trim();
  const password = view.password.value;
  // Argon2id takes about a second: let the status line paint first.
  setTimeout(() => {
    signIn(server, username, password)
      .then(async (signedIn) => {
        session = signedIn;
        view.password.value = "";
        await showFiles(signedIn);
      })
      .catch((error: unknown) => {
        view.fail(
          error instanceof IntegrityError
            ? "Your private key does not open with this password, or the server altered it: nothing was shown."
            : explain(error),
        );
        view.say("Not signed in.", "signed-out");
      });
  }, 0);
});

view.fileInput.addEventListener("change", () => {
  const chosen = [...(view.fileInput.files ?? [])];
  view.fileInput.value = "";
  if (chosen.length > 0) queue?.add(chosen);
});
view.dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  view.dropzone.classList.add("over");
});
view.dropzone.addEventListener("dragleave", () => view.dropzone.classList.remove("over"));
view.dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  view.dropzone.classList.remove("over");
  const dropped = [...(event.dataTransfer?.files ?? [])];
  if (dropped.length > 0) queue?.add(dropped);
});
view.passwordForm.addEventListener("submit", (event) => {
  event.preventDefault();
  view.clearProblem();
  const signedIn = session;
  if (signedIn === null) return;
  if (view.newPassword.value !== view.newPasswordAgain.value) {
    view.fail("The two new passwords differ: type the same new password twice.");
    return;
  }
  view.say("Changing your password…", "changing-password");
  // Argon2id runs twice (the old password, the new one): let the status line paint first.
  setTimeout(() => {
    changePassword(server, signedIn, view.oldPassword.value, view.newPassword.value).then(
      () => {
        view.passwordForm.reset();
        view.say("Your password was changed. Your other sessions were signed out.", "password-changed");
      },
      (error: unknown) => {
        view.fail(explain(error));
        view.say("Your password was not changed.", "files");
      },
    );
  }, 0);
});
view.filter.addEventListener("input", redraw);
view.sort.addEventListener("change", redraw);
view.signout.addEventListener("click", () => {
  void session?.account.logout();
  const mine = `own|${server}|${session?.name ?? ""}|`;
  void sweepStaged((saved) => saved.id.startsWith(mine)); // SECURITY: signing out leaves none of the user's staged downloads

  for (const task of queue?.tasks ?? []) queue?.pause(task);
  queue = null;
  actions = null;
  session = null;
  rows = [];
  view.draw([]);
  view.files.hidden = true;
  view.signin.hidden = false;
  view.say("Signed out.", "signed-out");
});

registerSaver();
void sweepStaged();
usePasswordWorker(view.workerUrl("kdf"));
ready().then(
  () => view.say("Sign in to see your files. A share link (…/s/…#…) opens without an account.", "signed-out"),
  () => view.fail("This browser could not load Coffer's cryptography: use a current browser."),
);
