"""What a person would see as cut off, overlapping or off the side of a page, measured in the
browser: every box holding text is at least as wide as its content (text never runs into a
neighbour or under an ellipsis), lies inside each ancestor that clips it, and the page never
scrolls sideways. Plotly's charts are left out (they draw their own text in SVG)."""

from __future__ import annotations

from playwright.async_api import Page

CUT_OFF_TEXT = r"""
() => {
  // Every box holding text: its content must not be wider than the box (text running into a
  // neighbour or cut off), and it must lie inside every ancestor that clips its content.
  const problems = [];
  const shown = (e) => { const s = getComputedStyle(e); return s.display !== "none" && s.visibility !== "hidden" && e.getClientRects().length > 0; };
  for (const e of document.querySelectorAll("body *")) {
    if (e.closest("svg, .js-plotly-plot, [hidden], dialog:not([open])")) continue;
    if (!shown(e) || !e.textContent.trim()) continue;
    const s = getComputedStyle(e);
    const text = e.textContent.trim().replace(/\s+/g, " ").slice(0, 70);
    const where = `${e.tagName.toLowerCase()}.${e.className}`;
    const scrolls = (v) => v === "auto" || v === "scroll";
    if (!s.display.startsWith("inline") || s.display === "inline-block" || s.display === "inline-flex") {
      if (!scrolls(s.overflowX) && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0) problems.push(`wider than its box (${e.scrollWidth} > ${e.clientWidth}): ${where} "${text}"`);
      if (s.overflowY === "hidden" && e.scrollHeight > e.clientHeight + 1) problems.push(`taller than its box: ${where} "${text}"`);
    }
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = e.getBoundingClientRect();
    for (let a = e.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const as = getComputedStyle(a);
      if (as.overflowX === "visible" && as.overflowY === "visible") continue;
      const ar = a.getBoundingClientRect();
      const vertical = !scrolls(as.overflowY);
      if (r.left < ar.left - 1 || r.right > ar.right + 1 || (vertical && (r.top < ar.top - 1 || r.bottom > ar.bottom + 1))) {
        problems.push(`cut off by ${a.tagName.toLowerCase()}.${a.className}: ${where} "${text}"`);
        break;
      }
      if (!vertical) break;
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  return problems;
}
"""


async def cut_off_text(page: Page) -> list[str]:
    """Each problem, named by the element and the start of its text; empty when none."""
    problems: list[str] = await page.evaluate(CUT_OFF_TEXT)
    return problems
