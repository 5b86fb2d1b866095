"""Make nbval compare the stored outputs of notebooks cleaned by `nbdev_clean`.

`nbdev_clean` sets every cell's `execution_count` to None, to keep diffs small. nbval reads a cell
with no execution count as never run, and then compares none of its outputs (or refuses a cell that
has outputs). The notebooks in nbs/ are committed fully executed, top to bottom, so every code cell
is a run cell: this numbers them in order as nbval reads them, and nbval's strict mode then checks
every stored output against a fresh run.
"""
import nbformat
import nbval.plugin


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
