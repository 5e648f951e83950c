/* The Copy button of code blocks (conversations/markdown.py) on pages without the chat's pane, such as
 * the shared page (/s/<token>); in the pane chat.js copies. Uses chat.js's copyText (loaded on every page). */
document.addEventListener("click", async (event) => {
  const button = event.target.closest(".code__copy");
  if (!button || button.closest("#message-log")) return;
  const ok = await window.copyText(button.parentElement.querySelector("pre")?.innerText ?? "");
  button.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => (button.textContent = "Copy"), 2000);
});
