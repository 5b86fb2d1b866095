"""Measure each page of the built book the way a reader meets it: visible code against prose.

Usage: python tools/book_measure.py [HTML_FOLDER]      (default: _build/html)

For every page of _toc.yml, read from the built HTML (no browser needed), in the page's article only
(not the sidebar, the header or the footer):

- visible code: the text of the code-cell inputs a reader sees without clicking. MyST-NB renders a
  cell tagged `hide-input` (or `hide-cell`) as a collapsed `<details>` element and leaves out the input
  of a `remove-input` cell altogether, so an input counts when it is not inside a `<details>`. Code
  listings written in the prose (fenced blocks outside cells) count as visible code too.
- prose: the text of the article outside code cells (inputs and outputs), outside code listings and
  outside typeset maths: paragraphs, headings, lists, tables of the text, admonitions, captions.
  Inline code in a sentence (`like_this`) is part of the sentence and counts as prose.
- maths: the TeX source of inline and display maths, shown in its own column and counted on neither
  side. TeX source is much longer than what it typesets (`\\bar\\alpha_t` for one symbol), so counting
  it as prose would flatter a page; leaving it out makes the comparison strict.

Characters are counted after collapsing every run of white space to one space, so indentation does not
weigh. Cell outputs (printed results, tables, figures) count on neither side.

Prints one row per page (page, prose, visible code, maths, code/prose) and exits with status 1 when a
page shows more visible code than prose, unless the page is in ALLOWANCES below, with its reason.
"""
import re
import sys
from pathlib import Path

import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent

# Pages allowed to show more visible code than prose, each with the reason. Keep this short and honest:
# an entry is a debt, not a design.
ALLOWANCES: dict[str, str] = {}


def pages(root: Path = ROOT) -> list[str]:
    "Every entry of _toc.yml, in book order."
    toc = yaml.safe_load((root / '_toc.yml').read_text())
    return [toc['root']] + [ch['file'] for part in toc.get('parts', []) for ch in part['chapters']]


def _chars(text: str) -> int: return len(re.sub(r'\s+', ' ', text).strip())


def measure_html(html: str) -> dict:
    "Prose, visible code and maths characters of one built page."
    soup = BeautifulSoup(html, 'html.parser')
    art = soup.find('article') or soup.body
    for tag in art.find_all(['script', 'style']): tag.decompose()
    for tag in art.select('a.headerlink'): tag.decompose()
    code = 0
    for inp in art.select('div.cell_input'):
        if inp.find_parent('details') is None: code += _chars(inp.get_text())
    listings = [d for d in art.select('div[class*="highlight-"]') if d.find_parent(class_='cell') is None]
    code += sum(_chars(d.get_text()) for d in listings)
    for d in listings: d.decompose()
    for cell in art.select('div.cell'): cell.decompose()
    maths = art.select('.math')
    n_maths = sum(_chars(m.get_text()) for m in maths)
    for m in maths: m.decompose()
    return {'prose': _chars(art.get_text(' ')), 'code': code, 'maths': n_maths}


def measure(html_dir: Path) -> list[tuple[str, dict]]:
    rows = []
    for name in pages():
        page = html_dir / f'{name}.html'
        if not page.exists(): raise SystemExit(f'{page} was not built')
        rows.append((name, measure_html(page.read_text())))
    return rows


def failures(rows) -> list[str]:
    "Pages with more visible code than prose and no allowance."
    return [name for name, m in rows if m['code'] > m['prose'] and name not in ALLOWANCES]


def table(rows) -> str:
    lines = [f'{"page":<32} {"prose":>8} {"code":>8} {"maths":>8} {"code/prose":>10}']
    for name, m in rows:
        ratio = m['code'] / m['prose'] if m['prose'] else float('inf')
        flag = '  allowed: ' + ALLOWANCES[name] if name in ALLOWANCES else ('  MORE CODE THAN PROSE' if ratio > 1 else '')
        lines.append(f'{name:<32} {m["prose"]:>8} {m["code"]:>8} {m["maths"]:>8} {ratio:>10.2f}{flag}')
    tot = {k: sum(m[k] for _, m in rows) for k in ('prose', 'code', 'maths')}
    lines.append(f'{"all pages":<32} {tot["prose"]:>8} {tot["code"]:>8} {tot["maths"]:>8} {tot["code"] / tot["prose"]:>10.2f}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    html_dir = Path(argv[0]) if argv else ROOT / '_build' / 'html'
    rows = measure(html_dir)
    print(table(rows))
    bad = failures(rows)
    if bad: print(f'\n{len(bad)} page(s) show more code than prose: {", ".join(bad)}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
