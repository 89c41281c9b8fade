/**
 * The app page at `/`. For now it says what the page offers today (opening share links) and how to
 * use Coffer from the command line; the login page and the file list come next (issue 17).
 */
const line = document.getElementById("status");
if (line) {
  line.textContent = "Open a share link (…/s/…#…) to download a file; signing in from the browser is coming.";
}
export {};
