#!/usr/bin/env python
"""Plant slips in the checks of the book's mathematical chapters and count how many of them a check catches.

A *site* is a call of a check in a code cell: `vanishes(e)` (and the chapters' wrappers `is_zero(e)`, `zero(e)`),
the errata ledger's `same(a, b)`, and `torch.testing.assert_close(actual, expected)` / `torch.allclose(actual, expected)`.
At each site one slip is planted in the asserted expression: in `vanishes(a - b)` in the claimed side `b`, elsewhere in
the expected value. The kind of slip turns with the site: a sign flipped (`+` for `-` or back), a constant changed
(`c` to `c + 1`, a float doubled), or a term dropped (`a + b` or `a - b` becomes `a`); when a site has nothing for its
kind, the next kind is tried.

Each notebook runs once, cell by cell, in one process. Before a cell with sites runs, the process forks once per
slip, and the child runs the mutated cell and reports: *killed* when a check raised AssertionError, *survived* when
the cell passed, *error* when it raised anything else, *timeout* past the limit. The unmutated cells run with the
symbolic half of `proved.vanishes` skipped (the notebook tests prove those identities); the mutated call itself runs
the full check.

Usage (from the repository root):
    .venv/bin/python tools/mutation_test.py                 # every notebook below, 120 s per slip at most, one notebook per core
    .venv/bin/python tools/mutation_test.py --limit 60 nbs/04a_tweedie.ipynb
    .venv/bin/python tools/mutation_test.py --list          # the slips, without running them
"""
import argparse, ast, json, os, signal, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

# The notebooks and, for each, code cells (by cell id, which stays when cells are added or moved) that the checks do
# not need and that take long: skipped.
NOTEBOOKS = {
    '00a_generative_models.ipynb': [],
    '01_forward_process.ipynb': [],
    '02_posterior.ipynb': [],
    '03_elbo.ipynb': ['99708256'],
    '04_eps_parameterisation.ipynb': ['2e6e11d7', '6655b78c'],
    '04a_tweedie.ipynb': [],
    '05_ddim.ipynb': [],
    '05a_sde.ipynb': ['9bdbd1b2', '032856b5', 'bcc180ae', 'fb32bfc6'],
    '06a_guidance.ipynb': ['b57fab6e', '1178574c', '204c958e', 'e26fff4b', '8938af8d', '36e63d1f'],
    '90_gaussian_identities.ipynb': [],
    '90a_gradients.ipynb': [],
    '91_errata.ipynb': [],
}
ONE_ARG = {'vanishes', 'is_zero', 'zero'}      # the asserted expression is the first argument (its claimed side if a - b)
TWO_ARG = {'same', 'assert_close', 'allclose'}  # the expected value is the second argument
KINDS = ('sign', 'constant', 'drop')


def _name(call):
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _targets(call):
    "The nodes of the call that hold what the check claims, the most specific first."
    name = _name(call)
    if name in ONE_ARG and call.args:
        e = call.args[0]
        return [e.right, e] if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Sub) else [e]
    if name in TWO_ARG and len(call.args) >= 2:
        return [call.args[1], call.args[0]]
    return []


def _nodes(tree):
    "Nodes in breadth-first order, so that the slip lands in the outermost structure first."
    out, todo = [], [tree]
    while todo:
        n = todo.pop(0); out.append(n); todo.extend(ast.iter_child_nodes(n))
    return out


def _numbers(tree):
    "The numeric constants that take part in arithmetic: operands, exponents, arguments of Rational (not shapes)."
    out = set()
    for n in ast.walk(tree):
        kids = [n.left, n.right] if isinstance(n, ast.BinOp) else [n.operand] if isinstance(n, ast.UnaryOp) else \
               n.args if isinstance(n, ast.Call) and _name(n) in ('Rational', 'Integer') else []
        out.update(id(k) for k in kids if isinstance(k, ast.Constant) and type(k.value) in (int, float) and k.value != 0)
    return out


def _mutate(target, kind):
    "A mutated copy of `target` (an expression node) and a description, or None when `kind` finds nothing to change."
    new = ast.parse(ast.unparse(target), mode='eval').body
    numbers = _numbers(new)
    in_index = {id(k) for n in ast.walk(new) if isinstance(n, ast.Subscript) for k in ast.walk(n.slice)}
    for n in _nodes(new):
        if id(n) in in_index: continue                    # an index is not part of the formula
        if kind == 'sign' and isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)):
            n.op = ast.Sub() if isinstance(n.op, ast.Add) else ast.Add()
            return new, 'sign flipped'
        if kind == 'constant' and id(n) in numbers:
            old = n.value; n.value = old + 1 if type(old) is int else old * 2
            return new, f'constant {old} -> {n.value}'
        if kind == 'drop' and isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)):
            class Drop(ast.NodeTransformer):
                def visit_BinOp(self, node):
                    return node.left if node is n else self.generic_visit(node)
            return (n.left if n is new else Drop().visit(new)), 'term dropped'
    return None


def slips(src):
    "(start byte, end byte, replacement, description) for each site of a cell's source, one slip per site."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    data = src.encode()
    starts = [0]
    for line in data.split(b'\n')[:-1]: starts.append(starts[-1] + len(line) + 1)
    inside_fail = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n) == 'test_fail' for k in ast.walk(n)}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n) in ONE_ARG | TWO_ARG and id(n) not in inside_fail]
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    out = []
    for c in calls:
        k0 = (c.lineno * 7 + c.col_offset) % 3           # the kind turns from site to site, the same on every run
        tries = [(t, k) for t in _targets(c) for k in KINDS[k0:] + KINDS[:k0]]
        for t, k in tries:
            m = _mutate(t, k)
            if m is None: continue
            new, what = m
            a = starts[t.lineno - 1] + t.col_offset
            b = starts[t.end_lineno - 1] + t.end_col_offset
            rep = '(' + ast.unparse(new) + ')'
            if _name(c) == 'vanishes':                      # the mutated call runs the full check
                fa = starts[c.func.lineno - 1] + c.func.col_offset
                fb = starts[c.func.end_lineno - 1] + c.func.end_col_offset
                out.append(((fa, fb, '_full_vanishes'), (a, b, rep), f'{what}: {data[a:b].decode()} -> {rep}', c.lineno))
            else:
                out.append((None, (a, b, rep), f'{what}: {data[a:b].decode()} -> {rep}', c.lineno))
            break
    return out


def apply(src, slip):
    data = src.encode()
    edits = sorted([e for e in slip[:2] if e], reverse=True)
    for a, b, rep in edits: data = data[:a] + rep.encode() + data[b:]
    return data.decode()


def run_notebook(name, skip, limit, listing):
    nb = json.loads((NBS / name).read_text())
    results = []
    if listing:
        for i, c in enumerate(nb['cells']):
            if c['cell_type'] == 'code' and c.get('id') not in skip:
                for s in slips(''.join(c['source'])): print(f'{name} cell {i} line {s[3]}: {s[2]}')
        return results
    os.chdir(NBS); sys.path.insert(0, str(NBS))
    import torch
    torch.set_num_threads(1)          # a forked child must not inherit a thread pool: one thread, in parent and children
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import proved
    full = proved.vanishes
    def fast(expr, n=5, seed=0, low=proved.sp.Rational(1, 100), high=proved.sp.Rational(99, 100), prove=None):
        return full(expr, n, seed, low, high, prove=lambda e: 0)        # the evaluation only: a slip still fails here
    proved.vanishes = fast
    ns = {'__name__': '__main__', 'display': lambda *a, **k: None, '_full_vanishes': full}
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code' or c.get('id') in skip: continue
        src = ''.join(c['source'])
        for s in slips(src):
            t0 = time.time()
            pid = os.fork()
            if pid == 0:                                                # the child: run the mutated cell, report by exit code
                code = 2
                def timeout(*_): raise TimeoutError
                signal.signal(signal.SIGALRM, timeout); signal.alarm(limit)
                try:
                    exec(compile(apply(src, s), f'{name}[{i}] mutated', 'exec'), ns); code = 0
                except AssertionError: code = 1
                except TimeoutError: code = 3
                except BaseException: code = 2
                finally: os._exit(code)
            deadline = t0 + limit + 10
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done: code = os.waitstatus_to_exitcode(status); break
                if time.time() > deadline: os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); code = 3; break
                time.sleep(0.05)
            verdict = {0: 'survived', 1: 'killed', 2: 'error', 3: 'timeout'}.get(code, 'error')
            results.append(dict(notebook=name, cell=i, line=s[3], slip=s[2], verdict=verdict, seconds=round(time.time() - t0, 1)))
            print(f'{verdict:8s} {time.time() - t0:5.1f} s  {name} cell {i} line {s[3]}: {s[2]}', flush=True)
        exec(compile(src, f'{name}[{i}]', 'exec'), ns)                  # the cell as it is, for the cells after it
        plt.close('all')
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('notebooks', nargs='*', help='notebooks to test (default: all of the list in this file)')
    ap.add_argument('--limit', type=int, default=120, help='seconds per slip (the mutated cell runs whole, so this must cover its slowest cell)')
    ap.add_argument('--list', action='store_true', help='print the slips without running them')
    ap.add_argument('--json', help='write every result to this file')
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1, help='notebooks run at once (default: one per core)')
    args = ap.parse_args()
    names = [Path(n).name for n in args.notebooks] or list(NOTEBOOKS)
    results, t0, running = [], time.time(), {}
    todo = list(names)
    while todo or running:
        while todo and len(running) < max(1, args.jobs if not args.list else 1):
            name = todo.pop(0)                     # one process per notebook, so that no state leaks between them
            out = Path(tempfile.mkstemp(prefix='mutation-', suffix='.json')[1])
            pid = os.fork()
            if pid == 0:
                try: res = run_notebook(name, NOTEBOOKS.get(name, []), args.limit, args.list)
                except BaseException as e:
                    import traceback; traceback.print_exc()
                    res = [dict(notebook=name, cell=None, line=None, slip=f'notebook failed: {type(e).__name__}: {e}', verdict='error', seconds=0)]
                out.write_text(json.dumps(res))
                os._exit(0)
            running[pid] = out
        pid, _ = os.wait()
        if pid in running:
            out = running.pop(pid)
            results += json.loads(out.read_text() or '[]'); out.unlink()
    order = {n: i for i, n in enumerate(names)}
    results.sort(key=lambda r: (order[r['notebook']], r['cell'] or 0, r['line'] or 0))
    if args.list: return
    count = lambda v: sum(r['verdict'] == v for r in results)
    print(f'\n{len(results)} slips planted in {len(names)} notebooks, {time.time() - t0:.0f} s: '
          f'{count("killed")} killed, {count("survived")} survived, {count("timeout")} timed out, {count("error")} errors')
    for r in results:
        if r['verdict'] != 'killed': print(f"  {r['verdict']}: {r['notebook']} cell {r['cell']} line {r['line']}: {r['slip']}")
    if args.json: Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
