/* A conversation's settings and title on the page (issue 14, "Models and instructions", "Titles").
 *
 * Two things htmx cannot do alone. It opens the conversation settings <dialog> that htmx swapped
 * in (templates/conversations/_settings_dialog.html, `data-dialog-open`; without this file the
 * dialog is a page of its own). And it follows a title the model gave a conversation after its
 * first reply: the socket's `conversation.title`, which static/js/live.js re-emits as the DOM
 * event `live:conversation.title`, renames the sidebar entry, the header and the tab. Titles are
 * set as text, never HTML. The "Model" select needs no script: it posts on change (hx-trigger).
 * And when another page changes the branch shown (`live:conversation.branch`), it shows it too.
 */
(() => {
  "use strict";

  const SELECTOR = "dialog[data-dialog-open]";

  const open = (root) => {
    const found = root.matches?.(SELECTOR) ? [root] : Array.from(root.querySelectorAll?.(SELECTOR) ?? []);
    for (const dialog of found) {
      if (!dialog.isConnected || dialog.open) continue;
      // The "More" menu that opened it closes behind it.
      dialog.closest(".pane__actions")?.querySelectorAll("details[open]").forEach((menu) => (menu.open = false));
      dialog.showModal();
    }
  };

  const retitle = (event) => {
    const { conversation_id: id, title } = event.detail || {};
    if (!id || !title) return;
    const entry = document.getElementById(`conv-${id}`)?.querySelector(".conv-item__title");
    if (entry) entry.textContent = title;
    const pane = document.getElementById("pane");
    if (!pane || pane.dataset.conversationId !== id) return;
    const heading = pane.querySelector("#pane-title");
    if (heading) heading.textContent = title;
    const rename = pane.querySelector("#rename-title");
    if (rename && document.activeElement !== rename) rename.value = title;
    document.title = window.pageText("tabTitle", { title }); // "<title> · Chat", in the page's language
  };

  if (window.conversationSettings) return;
  document.addEventListener("htmx:load", (event) => open(event.detail.elt));
  document.addEventListener("live:conversation.title", retitle);
  // Another page or device regenerated, edited or switched a version (issue 14): this page shows the
  // branch now shown. Not while this page's own action is on its way (its answer is that pane).
  document.addEventListener("live:conversation.branch", (event) => {
    const pane = document.getElementById("pane");
    if (!pane || pane.dataset.conversationId !== event.detail.conversation_id || pane.querySelector(".htmx-request")) return;
    htmx.ajax("GET", pane.dataset.conversationUrl, { target: "#pane", swap: "outerHTML" });
  });
  window.conversationSettings = { open, retitle };
  open(document);
})();
