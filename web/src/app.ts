/**
 * The app page at `/`: sign in, then the list of your files (name, size, expiry, state), sorted and
 * filtered in the page. Names are decrypted here; the server only ever holds them sealed.
 * Uploading, sharing and links from the browser come next (issue 17).
 */
import { ApiError } from "./api/http";
import { type FileRow, type SortKey, fileRows, shownRows } from "./app/files";
import { type SignedIn, signIn } from "./app/signin";
import { AppView } from "./app/view";
import { FormatError, IntegrityError } from "./format/errors";
import { ready } from "./format/sodium";

const view = new AppView();
const server = `${window.location.origin}${window.location.pathname.replace(/\/+$/, "")}`;
let session: SignedIn | null = null;
let rows: FileRow[] = [];

function explain(error: unknown): string {
  if (error instanceof ApiError && error.code === "bad_credentials") {
    return "The user name or password is wrong. Check both and try again.";
  }
  if (error instanceof ApiError && error.code === "network") {
    return "Coffer's server could not be reached: check your connection and try again.";
  }
  if (error instanceof IntegrityError) {
    return "Your private key does not open with this password, or the server altered it: nothing was shown.";
  }
  if (error instanceof ApiError || error instanceof FormatError) return `${error.message}.`;
  return "Something went wrong in this page. Reload it and try again.";
}

function redraw(): void {
  view.draw(shownRows(rows, view.filter.value, view.sort.value as SortKey));
}

async function showFiles(signedIn: SignedIn): Promise<void> {
  view.say("Opening your files…", "loading");
  rows = await fileRows(await signedIn.account.files(), signedIn.keys);
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
        view.fail(explain(error));
        view.say("Not signed in.", "signed-out");
      });
  }, 0);
});

view.filter.addEventListener("input", redraw);
view.sort.addEventListener("change", redraw);
view.signout.addEventListener("click", () => {
  void session?.account.logout();
  session = null;
  rows = [];
  view.draw([]);
  view.files.hidden = true;
  view.signin.hidden = false;
  view.say("Signed out.", "signed-out");
});

ready().then(
  () => view.say("Sign in to see your files. A share link (…/s/…#…) opens without an account.", "signed-out"),
  () => view.fail("This browser could not load Coffer's cryptography: use a current browser."),
);
