"""Make nbval compare the stored outputs of notebooks cleaned by `nbdev_clean`, and order a parallel test run.

`nbdev_clean` sets every cell's `execution_count` to None, to keep diffs small. nbval reads a cell
with no execution count as never run, and then compares none of its outputs (or refuses a cell that
has outputs). The notebooks in nbs/ are committed fully executed, top to bottom, so every code cell
is a run cell: this numbers them in order as nbval reads them, and nbval's strict mode then checks
every stored output against a fresh run.

`make test` runs the notebooks and tests/ on one pytest-xdist worker per core, each file whole on one
worker (`--dist loadfile`). Workers take files in the order collected (with `--no-loadscope-reorder`; without it
xdist puts the files with the most tests first), so the slowest files come first (`SECONDS` below), and the short
ones fill in at the end: the workers then finish at about the same time.
Torch's idle threads wait for work asleep, not spinning (`OMP_WAIT_POLICY=PASSIVE`): with two workers, or
anything else, on the same cores, spinning threads take the cores from the threads that have work. Torch's
number of threads is unchanged. Numpy's and scipy's OpenBLAS runs on one thread (`OPENBLAS_NUM_THREADS=1`): its
idle threads spin too, and the evaluation chapter's check of the Wasserstein-2 map (numpy on matrices of 100,000
rows) took 3.3 s alone and 25.6 s beside one busy worker with OpenBLAS's default, 3.0 s there with one thread.
No printed number of a notebook depends on it: the notebooks that use numpy print the same with OpenBLAS's default
threads and with one.
"""
import os

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')            # before torch loads OpenMP, here and in every kernel
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')              # before numpy loads OpenBLAS, here and in every kernel

import nbformat
import nbval.plugin
import pytest


class _NumberedNotebooks:
    "nbformat, except that `read` numbers the code cells of the notebook it returns."
    def __getattr__(self, name): return getattr(nbformat, name)

    def read(self, *args, **kwargs):
        nb = nbformat.read(*args, **kwargs)
        code_cells = [c for c in nb.cells if c.cell_type == 'code']
        for i, cell in enumerate(code_cells, start=1):
            if cell.execution_count is None: cell.execution_count = i
        return nb


nbval.plugin.nbformat = _NumberedNotebooks()


# Seconds each of the slowest files takes on two idle cores beside another worker (setup and calls, summed by file, as
# `--durations=0` reports them): a two-worker run of the whole suite on a busy machine, divided by 1.95, the ratio of
# three notebooks' times there and on idle cores; the killed-worker test and the one Chromium run of the book tests
# estimated. A file not named here counts as SECONDS_OTHER. Only the order depends on them.
SECONDS = {
    'nbs/12_evaluation.ipynb': 570,
    'nbs/09_training.ipynb': 240,
    'nbs/06_sampling.ipynb': 230,
    'tests/test_distributed.py': 160,
    'nbs/12a_guided_digits.ipynb': 135,
    'tests/test_book_layout.py': 130,
    'nbs/10_cli.ipynb': 125,
    'tests/test_benchmarks.py': 105,
    'nbs/06a_guidance.ipynb': 60,
    'tests/test_readme.py': 60,
    'nbs/09a_checkpoint.ipynb': 50,
    'tests/test_book.py': 40,
    'tests/test_book_model.py': 35,
    'nbs/91_errata.ipynb': 35,
}
SECONDS_OTHER = 10


def _file(item) -> str: return item.nodeid.split('::', 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    "Run the slowest files first, each file's items together and in their own order."
    first = {}
    for i, item in enumerate(items): first.setdefault(_file(item), i)
    items.sort(key=lambda it: (-SECONDS.get(_file(it), SECONDS_OTHER), first[_file(it)]))    # stable: a file's items keep their order
