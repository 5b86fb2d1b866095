import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent


def _shared(tmp_path_factory, name:str):
    "A folder `name` that every pytest-xdist worker of this run shares, and the file that locks it; None alone."
    if os.environ.get('PYTEST_XDIST_WORKER') is None: return None
    run = tmp_path_factory.getbasetemp().parent              # the run's temporary folder, around each worker's own
    return run / name, run / f'{name}.lock'


@pytest.fixture(scope='session')
def digits_cache(tmp_path_factory):
    """One cache folder for the whole test run, so that the statistics of the reference digits are computed once and shared.

    Alone, the session's own folder. Under pytest-xdist, one folder for all workers (statistics files are written
    atomically, so two workers that compute the same file at once both leave it whole)."""
    shared = _shared(tmp_path_factory, 'cache')
    if shared is None: return tmp_path_factory.mktemp('cache')
    shared[0].mkdir(exist_ok=True)
    return shared[0]


def _build_book(out:Path) -> Path:
    "Build the book from stored outputs into the folder `out`; return the html folder."
    cfg = yaml.safe_load((ROOT / '_config.yml').read_text())
    cfg['execute']['execute_notebooks'] = 'off'
    # Jupyter Book reads the folders of local extensions relative to the config file, which moves here.
    local = cfg['sphinx'].get('local_extensions') or {}
    cfg['sphinx']['local_extensions'] = {name: str(ROOT / folder) for name, folder in local.items()}
    cfg_file = out / '_config.yml'
    cfg_file.write_text(yaml.safe_dump(cfg))
    jb = Path(sys.executable).parent / 'jupyter-book'
    res = subprocess.run([str(jb), 'build', str(ROOT), '--config', str(cfg_file), '--path-output', str(out),
                          '--builder', 'html', '-W', '-n'], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return out / '_build' / 'html'


@pytest.fixture(scope='session')
def book(tmp_path_factory):
    """Build the book from stored outputs into a temporary folder; return the html folder.

    Under pytest-xdist the workers share one build: the first to ask builds it under a lock, and the others wait
    for it (a failed build is tried again by the next). Each worker gets its own copy of the html folder, since
    the layout test writes pages into it for a while."""
    shared = _shared(tmp_path_factory, 'book')
    if shared is None: return _build_book(tmp_path_factory.mktemp('book'))
    folder, lock = shared
    with FileLock(lock):
        done = folder / 'built'
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            _build_book(folder)
            done.touch()
    own = tmp_path_factory.mktemp('book') / 'html'
    shutil.copytree(folder / '_build' / 'html', own)
    return own


@pytest.fixture(scope='session')
def layout(book, tmp_path_factory):
    """What one Chromium run finds on every page of the book at both widths: {(page, width): report} (see
    tests/test_book_layout.py, whose probe measures the layout and reads the typesetting that tests/test_book.py checks).

    Under pytest-xdist the first worker to ask runs Chromium under a lock and writes the reports to a shared file; the
    others wait for it and read that file."""
    from test_book_layout import PAGES, WIDTHS, run_layout

    def measure():
        start = time.time()
        reports = run_layout(book, PAGES, tmp_path_factory.mktemp('layout'))
        print(f'\nlayout of {len(PAGES)} pages at {len(WIDTHS)} widths measured in {time.time() - start:.0f} s')
        return reports

    shared = _shared(tmp_path_factory, 'layout')
    if shared is None: return measure()
    folder, lock = shared
    with FileLock(lock):
        found = folder / 'reports.json'
        if not found.is_file():
            folder.mkdir(exist_ok=True)
            rows = [[name, w, rep] for (name, w), rep in measure().items()]
            found.write_text(json.dumps(rows))
    return {(name, w): rep for name, w, rep in json.loads(found.read_text())}
