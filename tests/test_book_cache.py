"""`make book` keeps its executed notebooks only while what they read besides their code is unchanged (tools/book_cache.py)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
import book_cache


def test_the_cache_is_kept_while_the_inputs_hold_and_emptied_when_one_changes(tmp_path):
    (tmp_path / 'ddpm_lit').mkdir(); (tmp_path / 'nbs' / 'book_runs' / 'run').mkdir(parents=True)
    (tmp_path / 'ddpm_lit' / 'training.py').write_text('x = 1\n')
    (tmp_path / 'nbs' / 'book_runs' / 'run' / 'recipe.json').write_text('{}')
    cache = tmp_path / '_build' / '.jupyter_cache'
    assert book_cache.keep_or_clear(cache, tmp_path) == 'executing every notebook: no notebook has been executed yet'
    cache.mkdir(); (cache / 'executed').write_text('a build')            # what a build leaves
    assert book_cache.keep_or_clear(cache, tmp_path).startswith('reusing') and (cache / 'executed').is_file()
    (tmp_path / 'nbs' / 'other.ipynb').write_text('{}')                 # a notebook is not an input: its own code is hashed by jupyter-cache
    for written in ('_runs/cache/stats.npz', '.hypothesis/db', 'book_runs/.run.lock'):  # nor what the notebooks write, nor hidden files
        (tmp_path / 'nbs' / written).parent.mkdir(parents=True, exist_ok=True); (tmp_path / 'nbs' / written).write_text('x')
    assert book_cache.keep_or_clear(cache, tmp_path).startswith('reusing')
    (tmp_path / 'nbs' / 'figures').mkdir(); (tmp_path / 'nbs' / 'figures' / 'log.csv').write_text('step\n')
    assert book_cache.keep_or_clear(cache, tmp_path) == 'executing every notebook: nbs/figures/log.csv changed'
    cache.mkdir(); (cache / 'executed').write_text('a build')
    (tmp_path / 'ddpm_lit' / 'training.py').write_text('x = 2\n')
    assert book_cache.keep_or_clear(cache, tmp_path) == 'executing every notebook: ddpm_lit/training.py changed'
    assert not cache.exists()
    cache.mkdir(); (tmp_path / 'nbs' / 'book_runs' / 'run' / 'recipe.json').write_text('{"key": 2}')
    assert 'nbs/book_runs/run/recipe.json changed' in book_cache.keep_or_clear(cache, tmp_path) and not cache.exists()


def _executed(folder:Path, name:str, text:str) -> Path:
    "A one-cell notebook, as executed, with its output `text`."
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f'print({text!r})', execution_count=1,
                                          outputs=[nbformat.v4.new_output('stream', text=text + '\n')])])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, folder / name)
    return folder / name


def test_the_pages_that_read_files_leave_the_cache_at_every_build(tmp_path):
    from jupyter_cache import get_cache
    cache = tmp_path / '_build' / '.jupyter_cache'
    book_cache.keep_or_clear(cache, tmp_path)
    store = get_cache(cache)
    for name in ('06_sampling.ipynb', *book_cache.ALWAYS_RUN):
        store.cache_notebook_file(_executed(tmp_path, name, name), check_validity=False)
    assert book_cache.keep_or_clear(cache, tmp_path).startswith('reusing')
    assert [Path(r.uri).name for r in get_cache(cache).list_cache_records()] == ['06_sampling.ipynb']
    (cache / 'global.db').write_bytes(b'damaged')
    assert book_cache.keep_or_clear(cache, tmp_path).endswith('could not be read (DatabaseError)') and not cache.exists()


def test_make_book_executes_through_the_cache():
    import yaml
    assert yaml.safe_load((ROOT / '_config.yml').read_text())['execute']['execute_notebooks'] == 'cache'
    assert all((ROOT / 'nbs' / name).is_file() for name in book_cache.ALWAYS_RUN)
    book = (ROOT / 'Makefile').read_text().split('\nbook:', 1)[1].split('\n\n', 1)[0]
    # the shipped runs are retrained, where their key changed, before the cache's inputs are read
    assert book.index('nbdev_export') < book.index('nbs/book_model.py') < book.index('tools/book_cache.py') < book.index('jupyter-book build')
    assert book_cache.configured_cache() == ROOT / '_build' / '.jupyter_cache'
