/** Find the page's elements by id, typed, once: a page whose HTML lacks one fails at load, not at first use. */

export function element<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`the page lacks #${id}`);
  return found;
}
