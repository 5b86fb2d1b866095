import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='session')
def digits_cache(tmp_path_factory):
    "One cache folder for the whole test session, so the digits classifier is trained once and its statistics shared."
    return tmp_path_factory.mktemp('cache')


@pytest.fixture(scope='session')
def book(tmp_path_factory):
    "Build the book from stored outputs into a temporary folder; return the html folder."
    out = tmp_path_factory.mktemp('book')
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
