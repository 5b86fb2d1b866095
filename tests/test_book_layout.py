"""Nothing on a page is cut off, at a laptop's 1280 px and a phone's 390 px, and prose outweighs code.

Every page of _toc.yml is opened in headless Chromium, offline, in a frame 1280 px wide and in one
390 px wide (a frame, because headless Chromium will not make a window narrower than 500 px; the page's
media queries see the frame's width, as they would a phone's screen). After MathJax has typeset the
page, a script measures, for everything a reader sees (not what is folded in a closed toggle; but the dropdowns
that fold the sources of tests on the tests page are opened first, since a reader opens them to read the code):

- each display equation (`mjx-container[display]` and the `div.math` around it, which holds the
  equation number): it must not be wider than its box. MathJax's box scrolls, so a long formula would
  otherwise end in a scroll bar a reader does not notice, with its end and its number out of sight;
- each table: it must not be wider than the block that holds it;
- each code-cell input and each code listing: its lines must fit the column. The book wraps long code
  lines (`_ext/book_style_static/book_style.css`), so a failure here means that style was lost.
  Cell outputs (printed tables, logs) keep their layout and may scroll sideways inside their block;
  they are counted in the report but not failed. A listing in a dropdown of a cell's Markdown output is code
  of the text, and must fit;
- the page as a whole: it must not scroll sideways.

One Chromium run measures all pages at both widths (the fixture `layout` in tests/conftest.py, shared by the
workers of a parallel run and by tests/test_book.py, which reads the typesetting from the same run): a driver page loads each page in turn into a frame
of the width, the page's script posts its findings to the driver, and the driver writes them all into
its own DOM, which `--dump-dom` returns. A control page with a deliberately over-wide equation and
table is measured in the same run, so the test shows every time that it can fail.

`tools/book_measure.py` is run on the same built book: no page shows more visible code than prose.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
import book_measure  # noqa: E402

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
WIDTHS = (1280, 390)
PAGES = book_measure.pages()
CONTROL = '_layout_control'

# Runs in each page: waits for MathJax, measures, posts the findings to the driver page.
PROBE = r"""
(async () => {
  const wait = ms => new Promise(r => setTimeout(r, ms));
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) await wait(50);
  const rep = {width: window.innerWidth, mathjax: !!(window.MathJax && MathJax.startup), equations: [], tables: [],
               code: [], outputs: 0, displayed: 0};
  try { await MathJax.startup.promise; } catch (e) { rep.error = String(e); }
  if (document.fonts) await document.fonts.ready;
  await wait(100);
  const art = document.querySelector('article.bd-article') || document.body;
  for (const d of art.querySelectorAll('details.sd-dropdown')) d.open = true;
  await wait(100);
  const shown = el => el.getClientRects().length > 0;     // false inside a closed <details>
  const tex = el => { try { return MathJax.startup.document.getMathItemsWithin(el)[0].math.trim().slice(0, 70); }
                      catch (e) { return el.textContent.trim().slice(0, 70); } };
  for (const el of art.querySelectorAll('mjx-container[display="true"]')) {
    if (!shown(el)) continue;
    rep.displayed += 1;
    const box = el.closest('div.math');
    const eqno = box && box.querySelector('.eqno');
    const over = Math.max(el.scrollWidth - el.clientWidth, box ? box.scrollWidth - box.clientWidth : 0,
                          Math.round(el.getBoundingClientRect().right - art.getBoundingClientRect().right));
    if (over > 1) rep.equations.push({eq: eqno ? eqno.textContent.replace('#', '').trim() : tex(el), over});
  }
  for (const el of art.querySelectorAll('table')) {
    if (!shown(el)) continue;
    const over = Math.max(Math.round(el.getBoundingClientRect().width - el.parentElement.clientWidth),
                          Math.round(el.getBoundingClientRect().right - art.getBoundingClientRect().right));
    if (over > 1) rep.tables.push({table: (el.querySelector('th, td') || el).textContent.trim().slice(0, 50), over});
  }
  for (const el of art.querySelectorAll('pre')) {
    if (!shown(el)) continue;
    const over = el.scrollWidth - el.clientWidth;
    if (over <= 1) continue;
    if (el.closest('div.cell_output') && !el.closest('details.sd-dropdown')) rep.outputs += 1;
    else rep.code.push({code: el.textContent.trim().slice(0, 50), over});
  }
  rep.page_over = document.documentElement.scrollWidth - window.innerWidth;
  // What tests/test_book.py checks of the typesetting: maths typeset, equation numbers, and the text a reader sees in
  // the sidebar and the article, without code and without the typeset maths (where raw TeX must not be left).
  const text = (root, drop) => { const c = root.cloneNode(true); c.querySelectorAll(drop).forEach(e => e.remove());
                                 return c.textContent; };
  rep.typeset = document.querySelectorAll('mjx-container').length;
  rep.eqnos = art.querySelectorAll('.eqno').length;
  const nav = document.getElementById('pst-primary-sidebar') || document.querySelector('.bd-sidebar-primary');
  rep.sidebar = nav ? text(nav, 'script, style, mjx-container, mjx-assistive-mml') : null;
  rep.prose = text(art, 'script, style, pre, code, mjx-container, mjx-assistive-mml, .cell_input, .highlight');
  parent.postMessage({id: window.name, report: rep}, '*');
})();
"""

# The driver: loads each page in turn into a frame of the given width and gathers the findings.
DRIVER = r"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<pre id="layout-report"></pre>
<script>
const JOBS = %s;
const results = {};
(async () => {
  for (const [src, width] of JOBS) {
    const id = src + '@' + width;
    const frame = document.createElement('iframe');
    frame.name = id;
    frame.style.cssText = 'border:0;display:block;height:900px;width:' + width + 'px';
    const done = new Promise(resolve => {
      const timer = setTimeout(() => resolve({timeout: true}), 120000);
      window.addEventListener('message', function on(e) {
        if (e.data && e.data.id === id) { clearTimeout(timer); window.removeEventListener('message', on); resolve(e.data.report); }
      });
    });
    frame.src = src;
    document.body.appendChild(frame);
    results[id] = await done;
    frame.remove();
  }
  document.getElementById('layout-report').textContent = JSON.stringify(results);
})();
</script></body></html>
"""

# Inserted into the control page's article: an equation and a table that fit no column, and raw TeX in prose.
TOO_WIDE = ('<div class="math notranslate nohighlight">\\[' + ' + '.join(f'x_{{{i}}}^{{2}}' for i in range(90))
            + '\\]</div><table class="table"><tr><td><div style="width: 3000px">a cell 3000 px wide</div></td></tr></table>'
            + '<p>TeX that nothing typesets: \\frac{a}{b}</p>')                  # for tests/test_book.py's check of raw TeX


def probe_copy(html: Path, name: str, out_name: str, extra: str = '') -> str:
    "Write a copy of a built page, next to it, with the probe (and `extra` at the top of the article)."
    page = html / f'{name}.html'
    text = page.read_text()
    if extra: text = text.replace('<article class="bd-article">', '<article class="bd-article">' + extra, 1)
    assert '<article class="bd-article">' in text or not extra
    text = text.replace('</body>', f'<script>{PROBE}</script></body>', 1)
    copy = page.with_name(f'{out_name}.html')
    copy.write_text(text)
    return copy.relative_to(html).as_posix()


def run_layout(html: Path, names: list[str], tmp: Path) -> dict:
    "Measure the given pages (and the control page) at both widths in one Chromium run: {(name, width): report}."
    srcs = {name: probe_copy(html, name, f'_layout_{Path(name).name}') for name in names}
    srcs[CONTROL] = probe_copy(html, names[0], CONTROL, extra=TOO_WIDE)
    jobs = [[src, w] for src in srcs.values() for w in WIDTHS]
    driver = html / '_layout_driver.html'
    driver.write_text(DRIVER % json.dumps(jobs))
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--hide-scrollbars', '--disable-background-networking', '--disable-component-update', '--disable-sync',
           f'--user-data-dir={tmp / "profile"}', '--host-resolver-rules=MAP * ~NOTFOUND',
           '--window-size=1300,1000', f'--virtual-time-budget={len(jobs) * 130_000}', '--dump-dom', driver.as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 40 * len(jobs))
    finally:
        for src in srcs.values(): (html / src).unlink(missing_ok=True)
        driver.unlink(missing_ok=True)
    assert res.returncode == 0 and res.stdout, res.stderr[-2000:]
    pre = BeautifulSoup(res.stdout, 'html.parser').find(id='layout-report')
    assert pre is not None and pre.get_text().strip(), 'the driver page wrote no report: ' + res.stderr[-2000:]
    found = json.loads(pre.get_text())
    return {(name, w): found.get(f'{src}@{w}', {'missing': True}) for name, src in srcs.items() for w in WIDTHS}


def problems(rep: dict) -> list[str]:
    "What a reader would find cut off or scrolled out of sight, in words."
    if rep.get('missing') or rep.get('timeout'): return ['the page was not measured (' + json.dumps(rep) + ')']
    out = [f'MathJax failed: {rep["error"]}'] if rep.get('error') else []
    out += [f'equation {e["eq"]} is {e["over"]} px wider than its column' for e in rep['equations']]
    out += [f'table "{t["table"]}" is {t["over"]} px wider than its block' for t in rep['tables']]
    out += [f'code "{c["code"]}" has lines {c["over"]} px past the column' for c in rep['code']]
    if rep['page_over'] > 1: out.append(f'the page scrolls sideways by {rep["page_over"]} px')
    return out


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')


@needs_chromium
def test_layout_check_can_fail(layout):
    "The control page, a real page with an over-wide equation and table added, is caught at both widths."
    for w in WIDTHS:
        rep = layout[(CONTROL, w)]
        assert rep.get('width') == w, rep
        found = problems(rep)
        assert any(p.startswith('equation') for p in found), (w, found)
        assert any(p.startswith('table') for p in found), (w, found)


@needs_chromium
@pytest.mark.parametrize('name', PAGES)
def test_nothing_cut_off(layout, name):
    found = {w: problems(layout[(name, w)]) for w in WIDTHS}
    for w in WIDTHS: assert layout[(name, w)].get('width') == w, layout[(name, w)]
    assert not any(found.values()), '\n'.join(f'{name} at {w} px: {p}' for w in WIDTHS for p in found[w])


def test_measure_counts_what_a_reader_sees():
    "Folded inputs, outputs and maths are not counted as code; prose is the text outside them."
    html = """<html><body><nav>sidebar text</nav><article class="bd-article"><p>Five words of prose here.</p>
    <span class="math">\\(x^2\\)</span>
    <div class="cell"><div class="cell_input"><pre>shown = 1</pre></div><div class="cell_output"><pre>printed</pre></div></div>
    <div class="cell tag_hide-input"><details class="hide above-input"><summary>Show code cell source</summary>
    <div class="cell_input"><pre>folded = 2</pre></div></details></div>
    <div class="highlight-bash"><pre>make book</pre></div></article></body></html>"""
    m = book_measure.measure_html(html)
    assert m == {'prose': len('Five words of prose here.'), 'code': len('shown = 1') + len('make book'), 'maths': len('\\(x^2\\)')}


def test_prose_outweighs_code(book):
    rows = book_measure.measure(book)
    print('\n' + book_measure.table(rows))
    bad = book_measure.failures(rows)
    assert not bad, f'more visible code than prose on: {", ".join(bad)}\n' + book_measure.table(rows)
