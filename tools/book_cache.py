"""Keep the book's executed notebooks between builds only while everything they read besides their own code is unchanged.

`make book` executes the notebooks through jupyter-cache (`execute_notebooks: cache` in _config.yml), which runs a
notebook again only when its code cells change. A notebook also reads what its code cells do not show: the package
(exported from every notebook, so one chapter's change can change another's outputs), the helpers, data and shipped
runs in nbs/, and the installed libraries. This script digests all of those; where the digest differs from the one
the cache was made with, it empties the cache, so that every notebook runs again. Not digested: the environment
(OMP_NUM_THREADS, say), a package reinstalled under the same version, and a Jupyter kernel of the user's own that
takes the place of the virtual environment's; after changing those, run `make clean` first. The pages that read
other files as text (the errata ledger reads its own prose, the proof map and the tests page read every notebook and
test) run on every build: their entries are taken out of the cache whatever else holds.

    python tools/book_cache.py [CACHE]      # CACHE: the one _config.yml names, else _build/.jupyter_cache
"""
import hashlib
import importlib.metadata
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a notebook may read besides its own code cells, as globs under the repository's root: in nbs/, every file but
# the notebooks themselves (whose code jupyter-cache hashes) and the caches they write.
INPUTS = ('ddpm_lit/**/*', 'nbs/**/*', 'settings.ini', '_config.yml')
NOT_INPUTS = ('_runs', '__pycache__', '.ipynb_checkpoints')
# The pages that read files as text, which their code cells do not show: run on every build.
ALWAYS_RUN = ('91_errata.ipynb', '92_proof_map.ipynb', '93_tests.ipynb')


def inputs(root:Path=ROOT) -> dict:
    "{name: digest} of every input file, every installed distribution and Python's version."
    found = {}
    for pattern in INPUTS:
        for p in root.glob(pattern):
            parts = p.relative_to(root).parts                      # hidden files and folders (.hypothesis, locks) are no input
            if p.is_file() and p.suffix != '.ipynb' and not any(x.startswith('.') or x in NOT_INPUTS for x in parts):
                found[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    found['(installed)'] = hashlib.sha256('\n'.join(dists).encode()).hexdigest()
    found['(python)'] = hashlib.sha256(sys.version.encode()).hexdigest()
    return found


def keep_or_clear(cache:Path=None, root:Path=ROOT) -> str:
    """Empty `cache` (by default the one _config.yml names) unless it was made with today's inputs, whose digests are
    recorded beside it, one line each. Returns what was done, in words."""
    cache = cache or configured_cache(root)
    stamp = cache.parent / f'{cache.name}.inputs'
    now = inputs(root)
    before = dict(reversed(line.split('  ', 1)) for line in stamp.read_text().splitlines() if '  ' in line) if stamp.is_file() else None
    if cache.exists() and before == now:
        from jupyter_cache import get_cache
        try:
            store = get_cache(cache)
            for record in store.list_cache_records():
                if Path(record.uri).name in ALWAYS_RUN: store.remove_cache(record.pk)
            return f'reusing the notebooks executed in {cache} (but {", ".join(ALWAYS_RUN)}): their inputs are unchanged'
        except Exception as e:                                     # a cache that cannot be read is made anew
            shutil.rmtree(cache)
            return f'executing every notebook: the cache in {cache} could not be read ({type(e).__name__})'
    if not cache.exists() or before is None: said = 'no notebook has been executed yet'
    else:
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        said = ', '.join(changed[:3]) + (f' and {len(changed) - 3} more' if len(changed) > 3 else '') + ' changed'
    if cache.exists(): shutil.rmtree(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(''.join(f'{v}  {k}\n' for k, v in sorted(now.items())))
    return f'executing every notebook: {said}'


def configured_cache(root:Path=ROOT) -> Path:
    "The cache folder the book's _config.yml asks for (execute.cache), or Jupyter Book's default."
    import yaml
    named = (yaml.safe_load((root / '_config.yml').read_text()).get('execute') or {}).get('cache')
    return (root / named).resolve() if named else root / '_build' / '.jupyter_cache'


if __name__ == '__main__':
    print(keep_or_clear(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None))
