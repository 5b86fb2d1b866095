"""The expressions the mathematical chapters prove, each written once, and the test that tells two expressions apart.

A chapter that proves a result asserts that its derivation equals the function here; a later chapter that
uses the result calls the same function with its own symbols instead of typing the formula again, so a
slip in copying cannot survive: it would have to be made here, where the proof checks it.

`differs(a, b)` decides that two expressions are *different* by evaluating both, exactly, at random
rational points. `sp.simplify(a - b) != 0` cannot decide that: it holds whenever sympy fails to simplify,
even for expressions that are equal.

`vanishes(e)` decides that an expression is identically zero, and it is what the chapters assert: it first
evaluates `e` at random rational points, at two working precisions, so that a slip (a flipped sign, a wrong
constant, a dropped term) fails in seconds, and only then asks `sp.simplify` for the proof, which on a wrong
identity can run for minutes before it gives up.
"""
import random

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef


def differs(a, b, n:int=5, seed:int=0, low=sp.Rational(1, 100), high=sp.Rational(99, 100)) -> bool:
    "True when `a` and `b` take different values at one of `n` random rational points in (low, high)."
    d = sp.sympify(a) - sp.sympify(b)
    symbols = sorted(d.free_symbols, key=sp.default_sort_key)
    rng = random.Random(seed)
    tried = 0
    for _ in range(20 * n):
        point = {s: low + (high - low) * sp.Rational(rng.randint(1, 999), 1000) for s in symbols}
        value = sp.radsimp(sp.expand(d.xreplace(point)))
        if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo): continue    # a pole of one side: try another point
        tried += 1
        if value.is_Rational:
            if value != 0: return True                           # exact rational arithmetic
        elif abs(sp.N(value, 100)) > sp.Rational(1, 10**60):     # an exact constant, to 100 significant digits
            return True
        if tried == n: break
    if tried < n: raise ValueError(f'only {tried} of {n} random points were inside the domain of {d}')
    return False


def _concrete(expr, seed:int):
    """expr with each undefined function f(v_1..v_k) replaced by a random smooth positive one, exp of a cubic in the
    tanh(v_i) (finite at infinite arguments too): an identity that holds for every f holds for it."""
    rng = random.Random(seed)
    coef = lambda: sp.Rational(rng.randint(-9, 9), 7)
    for f in sorted({a.func for a in expr.atoms(AppliedUndef)}, key=str):
        k = next(len(a.args) for a in expr.atoms(AppliedUndef) if a.func == f)
        v = sp.symbols(f'_v0:{k}')
        u = [sp.tanh(a) for a in v]
        poly = coef() + sum(coef() * a + coef() * a**2 + coef() * a**3 for a in u) + sum(coef() * a * b for i, a in enumerate(u) for b in u[i + 1:])
        expr = expr.replace(f, sp.Lambda(v, sp.exp(poly)))
    return expr.doit()


def _nonzero_at(expr, n:int, seed:int, low, high) -> bool:
    """True when expr is not 0 at one of n random rational points in (low, high).
    Each point is evaluated with mpmath at 30 and at 60 digits: a value that is really there is the same at both,
    while the rounding residue of an exact zero shrinks by about 30 orders of magnitude. No tolerance to tune."""
    expr = _concrete(expr, seed) if expr.atoms(AppliedUndef) else expr
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    f = sp.lambdify(symbols, expr, modules='mpmath', dummify=True)
    rng = random.Random(seed)
    tried = 0
    for _ in range(20 * n):
        point = [low + (high - low) * sp.Rational(rng.randint(1, 999), 1000) for _ in symbols]
        values = []
        for dps in (30, 60):
            with mpmath.workdps(dps):
                try: v = f(*[mpmath.mpf(p.p) / p.q for p in point])
                except (ZeroDivisionError, ValueError, OverflowError): v = mpmath.nan
                values.append(mpmath.mpc(v))
        if any(mpmath.isnan(v) or mpmath.isinf(v) for v in values): continue      # a pole: try another point
        tried += 1
        lo, hi = values
        with mpmath.workdps(60):
            if hi != 0 and abs(lo - hi) <= abs(hi) * mpmath.mpf(10)**-20: return True
        if tried == n: break
    if tried < n: raise ValueError(f'only {tried} of {n} random points were inside the domain of {expr}')
    return False


def vanishes(expr, n:int=5, seed:int=0, low=sp.Rational(1, 100), high=sp.Rational(99, 100), prove=sp.simplify) -> bool:
    """True when `expr` (every entry, for a matrix) is identically 0: evaluated first at n random points in (low, high),
    so that a slip fails in seconds, then proved by `prove` (sp.simplify unless a chapter names a better rewriting),
    which must return 0. Undefined functions are replaced by random smooth ones for the evaluation."""
    entries = [sp.sympify(e) for e in (expr if isinstance(expr, sp.MatrixBase) else [expr])]
    if any(_nonzero_at(e, n, seed, low, high) for e in entries if e != 0): return False
    return all(prove(e) == 0 for e in entries)


def normal_pdf(x, mean, var):
    "Density of N(mean, var) at x."
    return sp.exp(-(x - mean)**2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def log_normal(x, mean, var):
    "log N(x; mean, var)."
    return -(x - mean)**2 / (2 * var) - sp.log(2 * sp.pi * var) / 2


def fwd_marginal(abar_t, x0):
    "Mean and variance of q(x_t | x_0), eq. fwd-marginal (proved in the forward-process chapter)."
    return sp.sqrt(abar_t) * x0, 1 - abar_t


def post_var(alpha_t, abar_prev):
    "beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t, eq. post-var, with abar_t = alpha_t abar_{t-1}."
    return (1 - abar_prev) / (1 - alpha_t * abar_prev) * (1 - alpha_t)


def post_mean_coefs(alpha_t, abar_prev):
    "Coefficients of x_0 and of x_t in the posterior mean, eq. post-mean, with abar_t = alpha_t abar_{t-1}."
    abar_t = alpha_t * abar_prev
    return sp.sqrt(abar_prev) * (1 - alpha_t) / (1 - abar_t), sp.sqrt(alpha_t) * (1 - abar_prev) / (1 - abar_t)


def x0_from_eps(abar_t, x_t, eps):
    "x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), eq. post-x0-from-eps."
    return (x_t - sp.sqrt(1 - abar_t) * eps) / sp.sqrt(abar_t)


def post_mean_eps(alpha_t, abar_t, x_t, eps):
    "The posterior mean written with the noise, eq. post-mean-eps."
    return (x_t - (1 - alpha_t) / sp.sqrt(1 - abar_t) * eps) / sp.sqrt(alpha_t)


def kl_normal(mu1, var1, mu2, var2):
    "KL(N(mu1, var1) || N(mu2, var2)) in one dimension, eq. elbo-kl-1d (written with variances)."
    return sp.log(var2 / var1) / 2 + (var1 + (mu1 - mu2)**2) / (2 * var2) - sp.Rational(1, 2)


def eps_weight(alpha_t, abar_t, sigma2):
    "lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)), eq. eps-weight."
    return (1 - alpha_t)**2 / (2 * sigma2 * alpha_t * (1 - abar_t))


def ddim_step_mean(abar_t, abar_prev, sigma, x0, x_t):
    "Mean of q_sigma(x_{t-1} | x_t, x_0), eq. ddim-step-dist."
    return sp.sqrt(abar_prev) * x0 + sp.sqrt(1 - abar_prev - sigma**2) * (x_t - sp.sqrt(abar_t) * x0) / sp.sqrt(1 - abar_t)


def ddim_sigma(eta, abar_t, abar_prev):
    "sigma_t(eta), eq. ddim-sigma."
    return eta * sp.sqrt((1 - abar_prev) / (1 - abar_t)) * sp.sqrt(1 - abar_t / abar_prev)


def reverse_var_gaussian(alpha_t, abar_prev, s2):
    "Var(x_{t-1} | x_t) when the data is N(m, s2): the true reverse variance (posterior chapter)."
    var_prev = abar_prev * s2 + 1 - abar_prev                 # Var(x_{t-1}), eq. fwd-marginal
    var_t = alpha_t * var_prev + 1 - alpha_t                  # Var(x_t), one step of eq. fwd-kernel
    return var_prev - alpha_t * var_prev**2 / var_t           # Cov(x_{t-1}, x_t) = sqrt(alpha_t) Var(x_{t-1})
