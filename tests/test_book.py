"""The built book reads offline: every chapter page, opened in headless Chromium with no network,
shows typeset equations and no raw TeX, and the MathJax it loads is a file of the built book itself
(copied there by the `sphinx-mathjax-offline` extension, with no npm step).

The links of the proof map and of the tests page, to sections, equations and tests of other pages, each lead to a
page of the built book and to an element of it with that id.

The book is built here from the notebooks' stored outputs (which `pytest --nbval nbs/` checks against
a fresh run), so this test does not execute the notebooks a second time; the fixture `book` that
builds it is in tests/conftest.py, shared with tests/test_book_layout.py. The pages are opened by the one
Chromium run that also measures their layout (the fixture `layout`, there too): its probe reports, after MathJax has
run, how many maths were typeset and the text a reader sees in the sidebar and the article.
"""
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
# Marks of TeX that MathJax should have consumed.
RAW_TEX = ['\\(', '\\)', '\\[', '\\]', '$$', '\\begin{', '\\mathbf', '\\frac', '\\bar', '\\alpha']


def chapter_pages():
    "Every entry of _toc.yml, in book order (index.html only redirects to the root page)."
    toc = yaml.safe_load((ROOT / '_toc.yml').read_text())
    files = [toc['root']] + [ch['file'] for part in toc.get('parts', []) for ch in part['chapters']]
    return files


def mathjax_scripts(page: Path) -> list[str]:
    "The `src` of every script of the page that loads MathJax."
    soup = BeautifulSoup(page.read_text(), 'html.parser')
    return [s['src'] for s in soup.find_all('script', src=True) if 'mathjax' in s['src'].lower()]


def local_file(html: Path, page: Path, src: str) -> Path | None:
    "The file of the built book that `src` names, relative to the page; None for a URL or a missing file."
    if src.startswith(('http:', 'https:', '//', 'file:')) or ':' in src.split('/')[0]: return None
    path = (page.parent / src.split('?')[0].split('#')[0]).resolve()
    return path if path.is_file() and path.is_relative_to(html.resolve()) else None


def rendered(layout, name: str) -> dict:
    "What the layout run found on the page `name` at 1280 px, after its scripts ran, offline (see tests/conftest.py)."
    rep = layout[(name, 1280)]
    assert not rep.get('missing') and not rep.get('timeout') and 'typeset' in rep, f'{name} was not measured: {rep}'
    return rep


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')
@pytest.mark.parametrize('name', chapter_pages())
def test_page_typesets_offline(book, layout, name):
    page = book / f'{name}.html'
    assert page.exists(), f'{page} was not built'
    # MathJax comes from the book itself, never from a CDN, on every page (the sidebar has maths too).
    mathjax = mathjax_scripts(page)
    assert mathjax and all(local_file(book, page, s) for s in mathjax), mathjax
    soup = BeautifulSoup(page.read_text(), 'html.parser')
    source_math = len(soup.select('.math'))
    rep = rendered(layout, name)
    assert rep['typeset'] >= source_math, f'{name}: {source_math} maths in the source, {rep["typeset"]} typeset'
    nav = rep['sidebar']
    assert nav is not None, f'{name}: no sidebar on the page'
    assert 'Predicting the noise' in nav, f'{name}: no table of contents in the sidebar'
    left = raw_tex(nav)
    assert not left, f'{name}: raw TeX left in the sidebar: {left}'
    assert len(rep['prose'].split()) >= 50, f'{name}: the probe read almost no prose: {rep["prose"][:200]!r}'
    left = raw_tex(rep['prose'])
    assert not left, f'{name}: raw TeX left on the page: {left}'


def raw_tex(text: str) -> list:
    "The marks of TeX found in `text`."
    return [mark for mark in RAW_TEX if mark in text]


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')
def test_raw_tex_is_found(layout):
    "The layout run's control page has TeX in a paragraph that MathJax does not typeset: the check above finds it."
    from test_book_layout import CONTROL
    assert raw_tex(rendered(layout, CONTROL)['prose']) == ['\\frac']


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')
def test_chapters_have_maths_and_numbered_equations(layout):
    rep = rendered(layout, 'nbs/01_forward_process')
    assert rep['typeset'] > 50
    assert rep['eqnos'] >= 10, 'labelled equations should carry numbers'
    assert 'fwd-marginal' not in rep['prose'], 'an {eq} reference was left unresolved'


def test_mathjax_is_a_file_of_the_book(book):
    "Every page loads MathJax by a relative path to a file in the built html folder: no CDN, no missing file."
    pages = [book / f'{name}.html' for name in chapter_pages()]
    assert all(mathjax_scripts(page) for page in pages), [p.name for p in pages if not mathjax_scripts(p)]
    loaded = {local_file(book, page, src) for page in pages for src in mathjax_scripts(page)}
    assert None not in loaded and len(loaded) == 1, loaded
    # MathJax 3's CommonHTML output, with the fonts it fetches relative to itself.
    (js,) = loaded
    assert js.name == 'tex-chtml.js' and js.stat().st_size > 100_000, js
    assert list((js.parent / 'output' / 'chtml' / 'fonts' / 'woff-v2').glob('*.woff')), 'MathJax fonts missing'


def test_local_file_refuses_urls_and_missing_files(tmp_path):
    "The check above fails for a CDN address, a missing file and a file outside the book."
    (tmp_path / 'html' / '_static').mkdir(parents=True)
    (tmp_path / 'html' / '_static' / 'm.js').write_text('x')
    (tmp_path / 'outside.js').write_text('x')
    page = tmp_path / 'html' / 'index.html'
    assert local_file(tmp_path / 'html', page, '_static/m.js') == (tmp_path / 'html' / '_static' / 'm.js').resolve()
    for src in ['https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js', '//cdn/m.js', '_static/gone.js', '../outside.js']:
        assert local_file(tmp_path / 'html', page, src) is None, src


def test_plumbing_cells_hidden(book):
    "nbdev directives and imports are tagged remove-cell, so no `#| default_exp` reaches the reader."
    for name in chapter_pages():
        html = (book / f'{name}.html').read_text()
        assert 'default_exp' not in html, name


# The pages whose links are followed: the proof map and the page of the tests it cites.
LINKED_PAGES = ['nbs/92_proof_map', 'nbs/93_tests']


def internal_links(html: Path, name: str) -> list[tuple[str, Path, str]]:
    "(href, page it leads to, fragment) for each link of the page's article to a page of the book, itself included."
    page = html / f'{name}.html'
    article = BeautifulSoup(page.read_text(), 'html.parser').find('article')
    out = []
    for a in article.find_all('a', href=True):
        url = urlsplit(a['href'])
        if url.scheme or url.netloc: continue
        target = (page.parent / unquote(url.path)).resolve() if url.path else page.resolve()
        out.append((a['href'], target, unquote(url.fragment)))
    return out


def broken_links(html: Path, name: str) -> list[str]:
    "The links of the page that lead to no page of the book, or to no element with the fragment as its id."
    ids, broken = {}, []
    for href, target, fragment in internal_links(html, name):
        if not target.is_file() or not target.is_relative_to(html.resolve()):
            broken.append(f'{name}: {href}: no such page')
            continue
        if not fragment: continue
        if target not in ids:
            ids[target] = {t['id'] for t in BeautifulSoup(target.read_text(), 'html.parser').find_all(id=True)}
        if fragment not in ids[target]: broken.append(f'{name}: {href}: no element with id {fragment!r}')
    return broken


def test_links_of_the_proof_map_lead_somewhere(book):
    for name in LINKED_PAGES:
        assert not broken_links(book, name), '\n'.join(broken_links(book, name))
    links = internal_links(book, 'nbs/92_proof_map')
    to_tests = [(t, f) for _, t, f in links if t.name == '93_tests.html' and f]
    assert len([f for _, _, f in links if f]) > 200 and len(to_tests) >= 6, 'the map has fewer links than it should'
    assert any(f.startswith('equation-') for _, _, f in internal_links(book, 'nbs/93_tests'))


def _map_section(cell):
    "The section a cell is counted in, as the map counts: the nearest around it headed by h1, h2 or h3 (#, ## or ###)."
    return next(s for s in cell.find_parents('section') if s.find(['h1', 'h2', 'h3'], recursive=False))


def cells_the_map_names(html: Path) -> list[tuple[str, str, int, str]]:
    """(label, section link, place, the cell's text) for each cell a "Checked by" line of the built proof map names by
    its place in a section ("its 2nd code cell"), the cell found in the built page by counting the section's own cells."""
    page = html / 'nbs' / '92_proof_map.html'
    out, pages = [], {}
    for li in BeautifulSoup(page.read_text(), 'html.parser').find('article').find_all('li'):
        if not li.get_text().startswith('Checked by'): continue
        label = li.find_parent('li').find('code').get_text()
        for a in li.find_all('a', href=True):
            places = re.findall(r'(\d+)(?:st|nd|rd|th)', str(a.next_sibling).split(';')[0])
            target = (page.parent / unquote(urlsplit(a['href']).path)).resolve()
            if target not in pages: pages[target] = BeautifulSoup(target.read_text(), 'html.parser')
            fragment = unquote(urlsplit(a['href']).fragment)          # none: the chapter's opening, before its first section
            section = pages[target].find(id=fragment) if fragment else pages[target].find('article').find('section')
            cells = [c for c in section.find_all('div', class_='cell') if _map_section(c) is section]
            for k in map(int, places):
                out.append((label, a['href'], k, cells[k - 1].get_text() if k <= len(cells) else ''))
    return out


def test_every_cell_the_map_names_checks_its_equation(book):
    "Counting down from the linked heading, as the map tells a reader to, reaches a cell whose first line names the label."
    named = cells_the_map_names(book)
    assert len(named) > 60
    wrong = [(label, href, k) for label, href, k, text in named
             if not re.search(r'# checks: [^\n]*\b' + re.escape(label) + r'\b', text)]
    assert not wrong, wrong


def test_broken_links_are_found(tmp_path):
    "A link to a missing page, to a missing id, or out of the book is reported; links that resolve are not."
    (tmp_path / 'html' / 'nbs').mkdir(parents=True)
    (tmp_path / 'outside.html').write_text('<p id="x">x</p>')
    (tmp_path / 'html' / 'nbs' / 'b.html').write_text('<article><h2 id="sec">S</h2><span id="test-f"></span></article>')
    (tmp_path / 'html' / 'nbs' / 'a.html').write_text(
        '<nav><a href="gone.html">the sidebar is not read</a></nav><article id="top">'
        '<a href="b.html#sec">1</a> <a href="b.html#test-f">2</a> <a href="#top">3</a> <a href="b.html">4</a>'
        '<a href="https://example.org/b.html#nope">5</a> <a href="b.html#nope">6</a> <a href="c.html#sec">7</a>'
        '<a href="#gone">8</a> <a href="../../outside.html#x">9</a></article>')
    assert len(internal_links(tmp_path / 'html', 'nbs/a')) == 8
    assert broken_links(tmp_path / 'html', 'nbs/a') == [
        "nbs/a: b.html#nope: no element with id 'nope'", 'nbs/a: c.html#sec: no such page',
        "nbs/a: #gone: no element with id 'gone'", 'nbs/a: ../../outside.html#x: no such page']
