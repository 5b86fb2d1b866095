"""Load MathJax on every page of the book, not only on pages that have equations of their own.

Sphinx adds MathJax to a page only when its body has maths, but the table of contents in the sidebar
of every page carries the chapter titles, and some titles have maths in them: without this, a page
with no equations (the command-line chapter, the bibliography) shows those titles as raw TeX.
"""


def setup(app):
    app.set_html_assets_policy('always')
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
