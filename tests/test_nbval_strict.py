"""`pytest --nbval nbs/` really compares stored outputs: a notebook whose stored output is wrong fails.

`nbdev_clean` strips execution counts, which would make nbval treat every cell as unrun and compare
nothing; conftest.py numbers the cells back. This test keeps that from silently breaking.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_notebook(path, printed, stored):
    cell = {'cell_type': 'code', 'execution_count': None, 'id': 'c0', 'metadata': {}, 'source': f'print({printed!r})',
            'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': stored + '\n'}]}
    nb = {'cells': [cell], 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb))


def nbval(folder):
    shutil.copy(ROOT / 'conftest.py', folder / 'conftest.py')
    return subprocess.run([sys.executable, '-m', 'pytest', '--nbval', str(folder), '-q', '-p', 'no:cacheprovider'],
                          capture_output=True, text=True, cwd=folder)


def test_matching_output_passes(tmp_path):
    make_notebook(tmp_path / 'same.ipynb', 'abar = 0.5', 'abar = 0.5')
    res = nbval(tmp_path)
    assert res.returncode == 0, res.stdout


def test_changed_output_fails(tmp_path):
    make_notebook(tmp_path / 'changed.ipynb', 'abar = 0.5', 'abar = 0.25')
    res = nbval(tmp_path)
    assert res.returncode == 1 and '1 failed' in res.stdout, res.stdout
