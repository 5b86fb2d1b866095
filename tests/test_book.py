"""The built book reads offline: every chapter page, opened in headless Chromium with no network,
shows typeset equations and no raw TeX.

The book is built here from the notebooks' stored outputs (which `pytest --nbval nbs/` checks against
a fresh run), so this test does not execute the notebooks a second time.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


@pytest.fixture(scope='session')
def book(tmp_path_factory):
    "Build the book from stored outputs into a temporary folder; return the html folder."
    out = tmp_path_factory.mktemp('book')
    cfg = yaml.safe_load((ROOT / '_config.yml').read_text())
    cfg['execute']['execute_notebooks'] = 'off'
    cfg_file = out / '_config.yml'
    cfg_file.write_text(yaml.safe_dump(cfg))
    jb = Path(sys.executable).parent / 'jupyter-book'
    res = subprocess.run([str(jb), 'build', str(ROOT), '--config', str(cfg_file), '--path-output', str(out),
                          '--builder', 'html', '-W', '-n'], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return out / '_build' / 'html'


def render(page: Path, tmp_path: Path) -> BeautifulSoup:
    "The page's DOM after its scripts ran, in headless Chromium with every host name unresolvable."
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           f'--user-data-dir={tmp_path / "profile"}', '--host-resolver-rules=MAP * ~NOTFOUND',
           '--virtual-time-budget=30000', '--dump-dom', page.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and res.stdout, res.stderr[-2000:]
    return BeautifulSoup(res.stdout, 'html.parser')


def visible_prose(dom: BeautifulSoup) -> str:
    "Text of the article, without code, scripts and the typeset maths itself."
    article = dom.find('article') or dom.body
    for tag in article.find_all(['script', 'style', 'pre', 'code', 'mjx-container', 'mjx-assistive-mml']):
        tag.decompose()
    for tag in article.find_all(class_=['cell_input', 'highlight']):
        tag.decompose()
    return article.get_text(' ')


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')
@pytest.mark.parametrize('name', chapter_pages())
def test_page_typesets_offline(book, name, tmp_path):
    page = book / f'{name}.html'
    assert page.exists(), f'{page} was not built'
    html = page.read_text()
    # MathJax comes from the book itself, never from a CDN.
    soup = BeautifulSoup(html, 'html.parser')
    mathjax = [s['src'] for s in soup.find_all('script', src=True) if 'mathjax' in s['src'].lower()]
    assert mathjax and all(not s.startswith(('http:', 'https:', '//')) for s in mathjax), mathjax
    source_math = len(soup.select('.math'))
    dom = render(page, tmp_path)
    typeset = len(dom.find_all('mjx-container'))
    assert typeset >= source_math, f'{name}: {source_math} maths in the source, {typeset} typeset'
    text = visible_prose(dom)
    left = [mark for mark in RAW_TEX if mark in text]
    assert not left, f'{name}: raw TeX left on the page: {left}'


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (make test installs it)')
def test_chapters_have_maths_and_numbered_equations(book, tmp_path):
    dom = render(book / 'nbs' / '01_forward_process.html', tmp_path)
    assert len(dom.find_all('mjx-container')) > 50
    assert len(dom.select('.eqno')) >= 10, 'labelled equations should carry numbers'
    assert 'fwd-marginal' not in visible_prose(dom), 'an {eq} reference was left unresolved'


def test_plumbing_cells_hidden(book):
    "nbdev directives and imports are tagged remove-cell, so no `#| default_exp` reaches the reader."
    for name in chapter_pages():
        html = (book / f'{name}.html').read_text()
        assert 'default_exp' not in html, name
