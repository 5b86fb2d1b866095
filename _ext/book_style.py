"""How the book looks to a reader: code lines that stay in the column, and an author-year bibliography.

- Code: a code cell's input wraps its long lines inside the text column instead of hiding their ends
  behind a horizontal scroll bar (which a phone does not even show). Outputs keep their own layout.
- Bibliography: the text cites author-year (`bibtex_reference_style: author_year`), so the list at the
  end is labelled the same way, "Ho et al., 2020" instead of the alpha style's "HJA20", and sorted by
  author, year and title. A source note with no author is labelled by its title up to the colon, and
  one with no date by "n.d.", as the citations in the text are.
"""
from pathlib import Path

import pybtex.plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle

STATIC = Path(__file__).with_name('book_style_static')   # holds book_style.css


def _authors(entry) -> str:
    people = entry.persons.get('author') or entry.persons.get('editor') or []
    last = [' '.join(p.last_names) for p in people]
    if not last:
        title = entry.fields.get('title', entry.key).replace('{', '').replace('}', '')
        return title.split(':')[0]
    if len(last) == 1: return last[0]
    if len(last) == 2: return f'{last[0]} and {last[1]}'
    return f'{last[0]} et al.'


class AuthorYearLabelStyle(BaseLabelStyle):
    "Labels like 'Ho et al., 2020', with a, b, ... after the year where two entries would share one."
    def format_labels(self, sorted_entries):
        labels = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in sorted_entries]
        count = {}
        for label in labels: count[label] = count.get(label, 0) + 1
        seen = {}
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                seen[label] = seen.get(label, 0) + 1
                yield label + 'abcdefghijklmnopqrstuvwxyz'[seen[label] - 1]


class AuthorYearSortingStyle(BaseSortingStyle):
    "Sorted as the labels read: by authors (or title, for a note with no author), then year, then title."
    def sorting_key(self, entry):
        return (_authors(entry).lower(), entry.fields.get('year', ''), entry.fields.get('title', '').lower())


class AuthorYearStyle(UnsrtStyle):
    default_sorting_style = 'book_author_year'
    default_label_style = 'book_author_year'


def _add_css(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    pybtex.plugin.register_plugin('pybtex.style.labels', 'book_author_year', AuthorYearLabelStyle)
    pybtex.plugin.register_plugin('pybtex.style.sorting', 'book_author_year', AuthorYearSortingStyle)
    pybtex.plugin.register_plugin('pybtex.style.formatting', 'book_author_year', AuthorYearStyle)
    app.connect('builder-inited', _add_css)
    app.add_css_file('book_style.css')
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
