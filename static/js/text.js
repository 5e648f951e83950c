/* The page's words for its scripts, in the page's language (issue 16, "Two languages").
 *
 * The server writes them into <script id="page-text" type="application/json"> (base.html; the
 * sentences and their translations: conversations/page_text.py). Loaded before the other scripts:
 *
 *   pageText("copied")                      "Copied" (French: "Copié")
 *   pageText("tooLong", { length, max })    its %(name)s placeholders filled in
 *   pageText.plural("charactersLeft", n, { left: n })
 *   pageText.words()                        all of them, as an object
 *   pageText.detail(english)                a sentence the socket sent (English), in the page's language
 */
(() => {
  "use strict";

  let words = null;
  const all = () => {
    if (!words) {
      try {
        words = JSON.parse(document.getElementById("page-text")?.textContent || "{}");
      } catch {
        words = {};
      }
    }
    return words;
  };
  const fill = (text, values) =>
    String(text).replace(/%\((\w+)\)s/g, (placeholder, name) => (name in values ? String(values[name]) : placeholder));

  function pageText(key, values = {}) {
    const text = all()[key];
    return text === undefined ? "" : fill(text, values);
  }
  pageText.words = all;
  pageText.plural = (key, count, values = {}) => {
    const forms = all()[key] || [];
    return fill(forms[count === 1 ? 0 : 1] ?? forms[0] ?? "", values);
  };
  pageText.detail = (english) => (typeof english === "string" && all().details?.[english]) || english;

  window.pageText = pageText;
})();
