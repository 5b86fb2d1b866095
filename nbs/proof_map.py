"""The proof map: from each labelled equation to the cells that check it, the functions that implement it, and the tests of those.

Everything is read as text, nothing is run: the notebooks as JSON, the package's modules and `tests/*.py` with `ast`.
The conventions it reads:

- a labelled equation is a `{math}` block with `:label: name` in a markdown cell; one inside a `{prf:theorem}` block
  is that theorem's statement;
- an assertion cell names what it checks in its first line (after any `#|` directives): `# checks: fwd-marginal, fwd-sample`;
- a docstring of the package names what its function implements as `eq. fwd-marginal`, or `eqs. post-mean and post-var`
  (a list joined by commas and a final `and`);
- an equation that needs no proof (a definition, an assumption, a rule quoted as the starting point) is declared in
  `DECLARED` below, with its kind and one line of reason. Every other labelled equation must be named by a check.

`proof_map(root)` returns a `ProofMap`; its `errors` list what breaks the conventions, `markdown()` is the page of the
map, and `tests_markdown()` is the page of the tests it cites (nbs/93_tests.ipynb), with the sources of those tests.
A heading's anchor is the one MyST gives it (`myst_heading_anchors` in _config.yml), computed by MyST's own code.
"""
import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig
from myst_parser.mdit_to_docutils.base import compute_unique_slug
from myst_parser.parsers.mdit import create_md_parser

ROOT = Path(__file__).resolve().parent.parent
TESTS_PAGE = '93_tests'                # the notebook stem of the page that shows the tests the map cites

# The equations that are not proved, because there is nothing to prove: kind and reason.
DECLARED = {
    'gm-gan': ('definition', "the GAN's game and its value; the second form only renames the variable, x = G(z)"),
    'fwd-blend': ('definition', 'one step of the forward process'),
    'fwd-kernel': ('definition', 'names alpha_t and beta_t; the kernel is eq. fwd-blend under eq. fwd-vp'),
    'fwd-snr': ('definition', 'the signal-to-noise ratio'),
    'fwd-linear': ('definition', 'the linear schedule of Ho et al.'),
    'fwd-cosine': ('definition', 'the cosine schedule of Nichol and Dhariwal'),
    'post-reverse-bayes': ('rule', "Bayes' rule and the law of total probability, the starting point of the chapter"),
    'elbo-reverse': ('definition', 'the reverse process: the model'),
    'elbo-decoder': ('definition', 'the discretised decoder of the last step'),
    'eps-mean': ('definition', "the model's mean, written like the posterior mean with a network for the noise"),
    'eps-simple': ('definition', 'the unweighted loss, a choice'),
    'eps-step': ('definition', 'the step of Algorithm 2'),
    'eps-langevin': ('definition', 'the Langevin update'),
    'tw-marginal': ('definition', 'the noisy marginal, the data blurred by the kernel of eq. fwd-marginal'),
    'ddim-family': ('definition', 'the family of inference processes'),
    'ddim-step-dist': ('definition', 'the steps of the family'),
    'ddim-sigma': ('definition', 'the parameterisation of the family by eta'),
    'sde-vp': ('definition', 'the SDE, the limit of eq. sde-step'),
    'sde-vars': ('definition', 'the change of variables to (y, sigma)'),
    'samp-slerp': ('definition', 'spherical interpolation'),
    'guid-cg-eps': ('definition', 'classifier guidance with a learned classifier'),
    'guid-cfg': ('definition', 'classifier-free guidance'),
    'train-ema-warmup': ('definition', 'the warm-up of the decay of the average'),
    'train-warmup': ('definition', 'the warm-up of the learning rate'),
    'train-ema-update': ('definition', 'the update of the average'),
    'eval-w2': ('definition', 'the Wasserstein-2 distance'),
}

LABEL = r'[a-z0-9]+(?:-[a-z0-9]+)+'
_FENCE = re.compile(r'^\s{0,3}(`{3,}|~{3,}|:{3,})(?:\{([\w:-]+)\})?\s*(.*)$')    # a directive, or plain code: no heading inside
_CHECKS = re.compile(r'^#\s*checks?\b\s*:?(.*)$')
_EQ_REF = re.compile(r'\beqs?\.\s+(\S+(?:(?:,\s+|,?\s+and\s+)\S+)*)')
_ASSERTS = re.compile(r'\bassert\b|\btest_(?:eq|close|fail|ne|is)\b|assert_close|assert_allclose')


@dataclass
class Equation:
    label: str
    chapter: str                      # notebook stem, e.g. 01_forward_process
    section: tuple                    # (heading text, slug) of the section that states it
    theorem: str = ''                 # title of the prf:theorem it states, if any


@dataclass
class Cell:
    chapter: str
    number: int                       # among the notebook's code cells, from 1 (nbval's item names count from 0)
    section: tuple
    in_section: int = 0               # among the code cells the book shows in its section, from 1 (0: a removed cell)
    names: set = field(default_factory=set)   # names the cell refers to


@dataclass
class ProofMap:
    equations: dict                   # label -> Equation, in book order
    chapters: dict                    # stem -> title
    checks: dict                      # label -> [Cell]
    implements: dict                  # label -> [qualified function name]
    tested: dict                      # qualified function name -> ([Cell], [(test file, test name)])
    declared: dict
    errors: list
    tests: dict = field(default_factory=dict)         # (test file, test name) -> CitedTest, for every test cited
    notes: dict = field(default_factory=dict)         # test file -> first sentence of its module docstring
    anchors: dict = field(default_factory=dict)       # (test file, test name) -> its anchor on the tests page
    tests_page: str = ''                              # the tests page, made with the anchors

    def kind(self, label):
        if label in self.declared: return self.declared[label][0]
        return 'theorem' if self.equations[label].theorem else 'result'

    def markdown(self) -> str:
        return to_markdown(self)

    def tests_markdown(self) -> str:
        return self.tests_page


@dataclass
class CitedTest:
    file: str
    name: str
    first: int                        # first line in the file (its first decorator, if any), from 1
    last: int
    source: str                       # the lines first to last, as written
    summary: str                      # the first sentence of its docstring, or ''


# The book's Markdown parser, with the extensions of _config.yml: a heading's anchor is made from its text and inline
# code only, so what the extensions read as maths (`$...$`) is left out of it, as it is when the book is built.
_EXTENSIONS = yaml.safe_load((ROOT / '_config.yml').read_text())['parse']['myst_enable_extensions']
_MD = create_md_parser(MdParserConfig(enable_extensions=set(_EXTENSIONS)), RendererHTML)


def heading_anchor(text: str, taken: set) -> str:
    """The anchor MyST gives a heading of this text on a page whose earlier headings have the anchors `taken`; it is
    added to `taken`. MyST's own function makes it, with its rule for a repeated anchor (`tests`, `tests-1`, `tests-1-2`)."""
    heading = SyntaxTreeNode(_MD.parse('# ' + text)).children[0]
    slug = compute_unique_slug(heading, taken)
    taken.add(slug)
    return slug


def first_sentence(text: str) -> str:
    "The first sentence of a docstring, on one line."
    text = ' '.join(text.split())
    m = re.match(r'(.+?[.!?])(?=\s|$)', text)
    return m.group(1) if m else text


def _code_names(src: str) -> set:
    "Names and attribute names a cell or function refers to; lines of IPython magic are dropped."
    src = '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())
    try: tree = ast.parse(src)
    except SyntaxError: return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name): out.add(node.id)
        elif isinstance(node, ast.Attribute): out.add(node.attr)
    return out


def first_line(src: str) -> str:
    "The first line of a cell after its `#|` directives."
    for line in src.splitlines():
        if not line.startswith('#|'): return line.strip()
    return ''


def read_notebook(path: Path, errors: list):
    "Equations, chapter title, checks (label -> [Cell]), test cells and the anchors of the headings of one notebook."
    nb = json.loads(path.read_text())
    stem = path.stem
    title, section, slugs = stem, ('', ''), set()
    equations, checks, test_cells = [], {}, []
    code_no = shown = 0
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            stack = []
            for line in src.splitlines():
                if stack and line.strip() and set(line.strip()) == {stack[-1][0][0]} and len(line.strip()) >= len(stack[-1][0]):
                    stack.pop()                                  # a closing fence, checked first: a bare one also opens
                    continue
                m = _FENCE.match(line)
                if m:
                    stack.append((m.group(1), m.group(2) or '', m.group(3).strip()))
                    continue
                lm = re.match(r'^\s*:label:\s*(\S+)\s*$', line)
                if lm and stack and stack[-1][1] == 'math':
                    theorem = next((t for _, name, t in reversed(stack[:-1]) if name == 'prf:theorem'), '')
                    equations.append(Equation(lm.group(1), stem, section, theorem or ''))
                    continue
                hm = re.match(r'^(#{1,6})\s+(.*)$', line)
                if hm and not stack:
                    level, text = len(hm.group(1)), hm.group(2).strip()
                    if level == 1: title = text
                    if level <= 3:                       # myst_heading_anchors: 3
                        slug = heading_anchor(text, slugs)
                        if level >= 2: section, shown = (text, slug), 0
        elif cell['cell_type'] == 'code':
            code_no += 1
            removed = 'remove-cell' in cell.get('metadata', {}).get('tags', [])
            shown += not removed
            if src.startswith('#| export'): continue
            c = Cell(stem, code_no, section, 0 if removed else shown, _code_names(src))
            line = first_line(src)
            m = _CHECKS.match(line)
            if m:
                body = m.group(1).strip()
                if not line.startswith('# checks: ') or not body:            # a malformed line checks nothing
                    errors.append(f'{stem}, cell {code_no}: write the first line as "# checks: label, label", not {line!r}')
                elif not _ASSERTS.search(src):
                    errors.append(f'{stem}, cell {code_no}: names checks but asserts nothing')
                else:
                    for label in (x.strip() for x in body.split(',')):
                        if label: checks.setdefault(label, []).append(c)
            if _ASSERTS.search(src): test_cells.append(c)
    return equations, title, checks, test_cells, slugs


def read_package(package: Path, errors: list):
    "label -> [qualified name] from the docstrings, and the qualified names of every function and method."
    implements, functions = {}, []
    for path in sorted(package.glob('*.py')):
        if path.name.startswith('_'): continue
        tree = ast.parse(path.read_text())
        defs = []
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs.append((node.name, node))
                if isinstance(node, ast.ClassDef):
                    defs += [(f'{node.name}.{m.name}', m) for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for name, node in defs:
            functions.append(name)
            for label in docstring_labels(ast.get_docstring(node) or '', f'{path.name}: {name}', errors):
                implements.setdefault(label, []).append(name)
    return implements, functions


def docstring_labels(doc: str, where: str, errors: list) -> list:
    "The labels a docstring names as `eq. label` or `eqs. a, b and c`."
    out = []
    for m in _EQ_REF.finditer(doc):
        for word in re.split(r',\s+|,?\s+and\s+', m.group(1)):
            label = word.rstrip('.,;:)')
            if not re.fullmatch(LABEL, label):
                errors.append(f'{where}: "{m.group(0)}" does not name a label')
                break
            out.append(label)
    return out


def read_tests(tests: Path) -> dict:
    "(file, test name) -> the names the test refers to, through the helpers of its own file and import aliases."
    out = {}
    for path in sorted(tests.glob('test_*.py')):
        tree = ast.parse(path.read_text())
        alias = {a.asname: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names if a.asname}
        funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        direct = {name: _code_names(ast.unparse(f)) for name, f in funcs.items()}

        def reach(name, seen):
            names = set(direct[name])
            for other in direct[name] & funcs.keys():
                if other not in seen: names |= reach(other, seen | {other})
            return names
        for name in funcs:
            if name.startswith('test_'):
                names = reach(name, {name})
                out[(path.name, name)] = names | {alias[n] for n in names if n in alias}
    return out


def read_test_sources(tests: Path, keys) -> tuple:
    """The source of each test in `keys` ((file, name), as `read_tests` finds them) and, for each file, the first
    sentence of its module docstring."""
    sources, notes = {}, {}
    for file in sorted({f for f, _ in keys}):
        text = (tests / file).read_text()
        tree, lines = ast.parse(text), text.splitlines()
        notes[file] = first_sentence(ast.get_docstring(tree) or '')
        funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for f, name in keys:
            if f != file: continue
            node = funcs[name]
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            sources[(f, name)] = CitedTest(f, name, first, node.end_lineno, '\n'.join(lines[first - 1:node.end_lineno]),
                                            first_sentence(ast.get_docstring(node) or ''))
    return sources, notes


def refers(names: set, function: str, unique: set) -> bool:
    "Does a cell or test with these names use `function` (a method counts when its name is unique or its class is named)?"
    if '.' not in function: return function in names
    cls, meth = function.split('.')
    return meth in names and (meth in unique or cls in names)


def proof_map(root=ROOT, notebooks=None, package=None, tests=None, declared=None) -> ProofMap:
    root = Path(root)
    notebooks = sorted(Path(root, 'nbs').glob('[0-9]*.ipynb')) if notebooks is None else [Path(p) for p in notebooks]
    declared = DECLARED if declared is None else declared
    errors, equations, chapters, checks, test_cells = [], {}, {}, {}, []
    for path in notebooks:
        eqs, title, ch, tc, _ = read_notebook(path, errors)
        chapters[path.stem] = title
        for e in eqs:
            if e.label in equations: errors.append(f'{e.chapter}: label {e.label} is also in {equations[e.label].chapter}')
            equations[e.label] = e
        for label, cells in ch.items(): checks.setdefault(label, []).extend(cells)
        test_cells += tc
    implements, functions = read_package(Path(package or root / 'ddpm_lit'), errors)
    test_names = read_tests(Path(tests or root / 'tests'))
    methods = [f.split('.')[1] for f in functions if '.' in f]
    unique = {m for m in methods if methods.count(m) == 1 and m not in functions}
    tested = {}
    for label, names in implements.items():
        for f in names:
            cells = [c for c in test_cells if refers(c.names, f, unique)]
            files = [key for key, used in test_names.items() if refers(used, f, unique)]
            tested[f] = (cells, files)
    for label, cells in sorted(checks.items()):
        if label not in equations:
            errors.append(f'{", ".join(f"{c.chapter}, cell {c.number}" for c in cells)}: checks {label}, which is not a label')
    for label, names in sorted(implements.items()):
        if label not in equations: errors.append(f'docstring of {", ".join(names)}: eq. {label} is not a label')
    for label in declared:
        if label not in equations: errors.append(f'declared {label} is not a label')
    for label, e in equations.items():
        if label not in declared and not checks.get(label):
            errors.append(f'{e.chapter}: eq. {label} is a {"theorem" if e.theorem else "result"} that no assertion cell names')
    cited = {key for _, files in tested.values() for key in files}
    sources, notes = read_test_sources(Path(tests or root / 'tests'), cited)
    pm = ProofMap(equations, chapters, checks, implements, tested, declared, errors, sources, notes)
    pm.tests_page, pm.anchors = tests_markdown(pm, Path(root, 'nbs', f'{TESTS_PAGE}.ipynb'))
    return pm


def _section_link(chapter: str, section: tuple, text: str) -> str:
    heading, slug = section
    return f'[{text}]({chapter}.ipynb#{slug})' if slug else f'[{text}]({chapter}.ipynb)'


def _cells(cells: list, here: str = None, most: int = None) -> str:
    """Cells grouped by section, each named by its place among the code cells the section shows: '§ Heading, its 1st
    and 3rd code cells', linked to the section; past `most` sections, only how many more."""
    groups = {}
    for c in cells: groups.setdefault((c.chapter, c.section), []).append(c.in_section)
    out = []
    for (chapter, section), places in list(groups.items())[:most]:
        where = '' if chapter == here else f'{chapter.split("_")[0]} '
        text = f'{where}§ {section[0] or "the opening"}'
        out.append(f'{_section_link(chapter, section, text)}, {_places(places)}')
    rest = list(groups)[len(out):]
    chapters = len({ch for ch, _ in rest})
    if rest: out.append(f'and {len(rest)} more section{"s" * (len(rest) > 1)} of {chapters} chapter{"s" * (chapters > 1)}')
    return '; '.join(out)


def ordinal(n: int) -> str:
    return f'{n}{"th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")}'


def _places(places: list) -> str:
    "'its 2nd code cell', 'its 1st and 3rd code cells'; cells the book removes (tag remove-cell) are '1 cell not shown in the book'."
    shown, removed = sorted({p for p in places if p}), sum(1 for p in places if not p)
    parts = [f'its {_join([ordinal(p) for p in shown])} code cell{"s" * (len(shown) > 1)}'] if shown else []
    if removed: parts.append(f'{removed} cell{"s" * (removed > 1)} not shown in the book')
    return ' and '.join(parts)


def _test_link(pm: ProofMap, file: str, name: str) -> str:
    anchor = pm.anchors.get((file, name))
    return f'[`{name}`]({TESTS_PAGE}.ipynb#{anchor})' if anchor else f'`{name}`'


def _tests(pm: ProofMap, files: list, most: int = 3) -> str:
    "Test functions by file, each linked to its source on the tests page: '`tests/test_a.py`: `test_x`, `test_y`'."
    by_file = {}
    for f, name in files: by_file.setdefault(f, []).append(name)
    parts = []
    for f, names in by_file.items():
        shown = ', '.join(_test_link(pm, f, n) for n in names[:most])
        parts.append(f'`tests/{f}`: {shown}' + (f' and {len(names) - most} more' if len(names) > most else ''))
    return '; '.join(parts)


def to_markdown(pm: ProofMap) -> str:
    "The map as MyST Markdown: one paragraph per chapter, one item per labelled equation."
    lines = []
    n_checked = sum(1 for l in pm.equations if pm.checks.get(l) and l not in pm.declared)
    n_declared = sum(1 for l in pm.equations if l in pm.declared)
    lines.append(f'{len(pm.equations)} labelled equations: {n_checked} checked, {n_declared} declared to need no proof.')
    if pm.errors: lines.append('\n**Errors:**\n\n' + '\n'.join(f'- {e}' for e in pm.errors))
    chapter = None
    for label, e in pm.equations.items():
        if e.chapter != chapter:
            chapter = e.chapter
            lines.append(f'\n**{{doc}}`{chapter}`**\n')
        kind = pm.kind(label)
        head = f'- {{eq}}`{label}` `{label}`, {kind}'
        if label in pm.declared: head += f': {pm.declared[label][1]}'
        if e.theorem: head += f' ({e.theorem})'
        head += f'; stated in {_section_link(e.chapter, e.section, "§ " + (e.section[0] or "the opening"))}.'
        lines.append(head)
        if pm.checks.get(label): lines.append(f'  - Checked by {_cells(pm.checks[label], e.chapter)}.')
        elif label not in pm.declared: lines.append('  - **Not checked.**')
        for f in pm.implements.get(label, []):
            cells, files = pm.tested.get(f, ([], []))
            where = [_cells(cells, most=3)] if cells else []       # the notebook cells that test it: their first three sections
            if files: where.append(_tests(pm, files))
            lines.append(f'  - Implemented by `{f}`' + (f'; tested in {"; ".join(where)}.' if where else '; no test calls it.'))
    return '\n'.join(lines) + '\n'


def _fence(source: str, char: str = '`') -> str:
    "A fence longer than any run of `char` in the source."
    return char * max([3] + [len(run) + 1 for run in re.findall(f'{re.escape(char)}+', source)])


def tests_markdown(pm: ProofMap, page: Path = None) -> tuple:
    """The tests page as MyST Markdown, and the anchor of each test on it: a heading per file of `tests/` with the
    first sentence of its docstring, under it a heading per test that the map cites, in the order of the file, the
    first sentence of the test's docstring, the functions of the map it refers to, and its source, folded.

    The page's own headings (those of its Markdown cells, in `page`) come first, so each anchor is the one the built
    page has."""
    taken = set(read_notebook(page, [])[4]) if page is not None and page.exists() else set()
    calls = {}
    for f, (_, files) in pm.tested.items():
        for key in files: calls.setdefault(key, []).append(f)
    labels = {}
    for label, names in pm.implements.items():
        for f in names: labels.setdefault(f, []).append(label)
    keys = sorted(pm.tests, key=lambda k: (k[0], pm.tests[k].first))
    lines = [f'{len(keys)} test functions, in {len({f for f, _ in keys})} files, refer to a function that the proof map lists.']
    anchors, file = {}, None
    for key in keys:
        t = pm.tests[key]
        if t.file != file:
            file = t.file
            heading_anchor(f'`tests/{file}`', taken)
            lines.append(f'\n## `tests/{file}`\n')
            if pm.notes.get(file): lines.append(pm.notes[file])
        anchors[key] = heading_anchor(f'`{t.name}`', taken)
        lines.append(f'\n### `{t.name}`\n')
        called = [f'`{f}` for ' + _join([f'{{eq}}`{l}`' for l in labels[f]]) for f in calls[key]]
        text = (t.summary + ' ' if t.summary else '') + 'It refers to ' + _join(called) + '.'
        lines.append(text + '\n')
        fence, colons = _fence(t.source), _fence(t.source, ':')
        lines.append(f'{colons}{{dropdown}} Source: lines {t.first} to {t.last}\n{fence}python\n{t.source}\n{fence}\n{colons}')
    return '\n'.join(lines) + '\n', anchors


def _join(items: list) -> str:
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


if __name__ == '__main__':
    pm = proof_map()
    print(pm.markdown())
    print('\n'.join(pm.errors) or 'no errors')
