"""The proof map (nbs/proof_map.py, shown on the page nbs/92_proof_map.ipynb): every labelled equation of the book is
checked by an assertion cell that names it, or declared to need no proof; no check, docstring or declaration names a
label that does not exist. The map is read from the files as text, so this takes a second or two.

The second half feeds the reader a small synthetic book, with a result that nothing checks and wrong labels in a
check and in a docstring, and shows that each is reported; its tests, in two files with a test of the same name, are
shown on the tests page under distinct anchors, and the map links each test's name to its anchor. The anchors of
headings are MyST's own, with its rule for a repeated heading."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'nbs'))
from proof_map import DECLARED, heading_anchor, proof_map  # noqa: E402


def test_every_result_is_checked_and_every_label_exists():
    pm = proof_map(ROOT)
    assert not pm.errors, '\n'.join(pm.errors)
    assert len(pm.equations) >= 80                      # the reader finds the book's labels, not none
    unchecked = [l for l in pm.equations if l not in pm.declared and not pm.checks.get(l)]
    assert not unchecked


def test_declared_are_few_and_have_reasons():
    pm = proof_map(ROOT)
    for label, (kind, reason) in DECLARED.items():
        assert kind in {'definition', 'assumption', 'notation', 'rule'} and reason, label
        assert pm.equations[label]
    assert len(DECLARED) < len(pm.equations) / 2


def test_docstrings_cite_the_equations_they_implement():
    pm = proof_map(ROOT)
    assert 'NoiseSchedule.q_sample' in pm.implements['fwd-sample']
    assert set(pm.implements['post-var']) >= {'posterior_variance', 'q_posterior_mean_variance'}
    cells, files = pm.tested['NoiseSchedule.q_sample']
    assert cells and files


def _notebook(path: Path, cells):
    nb = {'cells': [{'cell_type': kind, 'metadata': {}, 'source': src, **({'outputs': [], 'execution_count': None} if kind == 'code' else {})}
                    for kind, src in cells], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb))


def test_the_checks_can_fail(tmp_path):
    (tmp_path / 'nbs').mkdir(); (tmp_path / 'pkg').mkdir(); (tmp_path / 'tests').mkdir()
    _notebook(tmp_path / 'nbs' / '01_toy.ipynb', [
        ('markdown', '# Toy\n\n## Section\n\n```{math}\n:label: toy-def\nx = 1\n```\n\n```{math}\n:label: toy-result\ny = 2x\n```\n\n'
                     '````{prf:theorem} A theorem\n:label: toy-thm\n```{math}\n:label: toy-thm-eq\nz = 3\n```\n````\n'),
        ('code', '# checks: toy-thm-eq, toy-missing\nassert 3 == 3'),
        ('code', '# check: toy-result\nassert 2 == 2'),
        ('code', '# checks: toy-def\nx = 1'),
        ('code', 'from pkg.mod import f\nassert f() == 1'),
    ])
    (tmp_path / 'pkg' / 'mod.py').write_text('def f():\n    "One, eq. toy-def."\n    return 1\n\n'
                                              'def g():\n    "Two, eqs. toy-result and toy-nowhere."\n    return 2\n\n'
                                              'def h():\n    "Three, eq. 4."\n    return 3\n')
    (tmp_path / 'tests' / 'test_mod.py').write_text('"""Tests of mod. A second sentence."""\nfrom pkg.mod import f as one\n\n'
                                                    'def _helper():\n    return one()\n\n'
                                                    '@mark\ndef test_f():\n    "Calls f. Through a helper."\n    assert _helper() == 1\n\n'
                                                    'def test_other():\n    assert 1\n')
    (tmp_path / 'tests' / 'test_more.py').write_text('from pkg.mod import f\n\ndef test_f():\n    assert f() == 1\n')
    pm = proof_map(tmp_path, notebooks=[tmp_path / 'nbs' / '01_toy.ipynb'], package=tmp_path / 'pkg',
                   tests=tmp_path / 'tests', declared={'toy-def': ('definition', 'x'), 'toy-gone': ('definition', 'y')})
    errors = '\n'.join(pm.errors)
    assert list(pm.equations) == ['toy-def', 'toy-result', 'toy-thm-eq']            # the theorem's label is not an equation
    assert pm.kind('toy-thm-eq') == 'theorem' and pm.kind('toy-def') == 'definition' and pm.kind('toy-result') == 'result'
    assert 'eq. toy-result is a result that no assertion cell names' in errors       # the malformed line does not count
    assert 'write the first line as "# checks: label, label"' in errors
    assert 'checks toy-missing, which is not a label' in errors
    assert 'names checks but asserts nothing' in errors
    assert 'eq. toy-nowhere is not a label' in errors
    assert 'h: "eq. 4." does not name a label' in errors
    assert 'declared toy-gone is not a label' in errors
    assert pm.implements == {'toy-def': ['f'], 'toy-result': ['g'], 'toy-nowhere': ['g']}
    cells, files = pm.tested['f']
    assert [c.number for c in cells] == [4] and set(files) == {('test_mod.py', 'test_f'), ('test_more.py', 'test_f')}
    page = pm.markdown()
    assert '{eq}`toy-result`' in page and '**Not checked.**' in page and '(01_toy.ipynb#section)' in page
    # The tests page: the cited tests only, by file, with the first sentences of the docstrings and the source.
    assert set(pm.tests) == {('test_mod.py', 'test_f'), ('test_more.py', 'test_f')}
    t = pm.tests[('test_mod.py', 'test_f')]
    assert (t.first, t.last, t.summary) == (7, 10, 'Calls f.') and t.source.startswith('@mark\ndef test_f():')
    assert pm.notes == {'test_mod.py': 'Tests of mod.', 'test_more.py': ''}
    assert pm.anchors == {('test_mod.py', 'test_f'): 'test_f', ('test_more.py', 'test_f'): 'test_f-1'}
    tests_page = pm.tests_markdown()
    assert tests_page.count('### `test_f`') == 2 and 'test_other' not in tests_page
    assert 'Tests of mod.\n\n### `test_f`\n\nCalls f. It refers to `f` for {eq}`toy-def`.' in tests_page
    assert ':::{dropdown} Source: lines 7 to 10\n```python\n' + t.source + '\n```\n:::' in tests_page
    assert '[`test_f`](93_tests.ipynb#test_f)' in page and '[`test_f`](93_tests.ipynb#test_f-1)' in page


def test_anchors_are_myst_s():
    "Maths and markup are left out of an anchor, and a repeated heading is numbered as MyST numbers it."
    taken = set()
    anchors = [heading_anchor(t, taken) for t in ['Tests', 'Tests', 'Tests', 'The marginal $q(\\mathbf{x}_t)$',
                                                  '`a_b` and *c*', '[A link](x.md) here']]
    assert anchors == ['tests', 'tests-1', 'tests-1-2', 'the-marginal-', 'a_b-and-c', 'a-link-here']
    assert heading_anchor('Tests', {'tests', 'tests-1', 'tests-1-2'}) == 'tests-1-2-3'


def test_a_cell_is_named_by_its_place_in_its_section(tmp_path):
    "Counted among the code cells the book shows, from the section's heading: a removed cell (tag remove-cell) is not."
    (tmp_path / 'nbs').mkdir(); (tmp_path / 'pkg').mkdir(); (tmp_path / 'tests').mkdir()
    nb = tmp_path / 'nbs' / '01_toy.ipynb'
    _notebook(nb, [
        ('code', 'import math'),
        ('markdown', '# Toy\n\n## First\n\n```{math}\n:label: toy-a\nx = 1\n```\n\n```{math}\n:label: toy-b\ny = 1\n```\n\n'
                     '```\n## a comment in plain code, not a heading\n```'),
        ('code', 'x = 1'),
        ('code', '# checks: toy-a\nassert x == 1'),
        ('markdown', '## Second'),
        ('code', 'hidden = 2'),
        ('code', '# checks: toy-a, toy-b\nassert 1'),
    ])
    data = json.loads(nb.read_text())
    data['cells'][5]['metadata']['tags'] = ['remove-cell']
    nb.write_text(json.dumps(data))
    pm = proof_map(tmp_path, notebooks=[nb], package=tmp_path / 'pkg', tests=tmp_path / 'tests', declared={})
    assert [(c.number, c.in_section) for c in pm.checks['toy-a']] == [(3, 2), (5, 1)]
    page = pm.markdown()
    assert ('Checked by [§ First](01_toy.ipynb#first), its 2nd code cell; [§ Second](01_toy.ipynb#second), its 1st code cell.'
            in page), page
