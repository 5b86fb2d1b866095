"""The exported package imports on its own, without any notebook, and exposes its API at the top."""
import subprocess
import sys


def run(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)


def test_import_in_fresh_process():
    res = run('import ddpm_lit, torch; s = ddpm_lit.NoiseSchedule.linear(); '
              'x = s.q_sample(torch.zeros(2, 3), torch.tensor([0, 999])); print(ddpm_lit.__version__, tuple(x.shape))')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[1:] == ['(2,', '3)']


def test_every_module_imports():
    res = run('import pkgutil, importlib, ddpm_lit\n'
              'for m in pkgutil.iter_modules(ddpm_lit.__path__): importlib.import_module("ddpm_lit." + m.name)')
    assert res.returncode == 0, res.stderr


def test_readme_example_runs():
    "The first Python example of the README runs as written."
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / 'README.md').read_text()
    code = readme.split('```python\n', 1)[1].split('```', 1)[0]
    res = run(code + '\nassert samples.shape == (16, 1, 28, 28) and loss.ndim == 0\n')
    assert res.returncode == 0, res.stderr


PUBLIC = {
    # the forward process, the posterior, the bound, DDPM and DDIM, the samplers
    'NoiseSchedule', 'q_posterior_mean_variance', 'predict_x0_from_eps', 'predict_eps_from_x0', 'normal_kl',
    'discretized_gaussian_log_likelihood', 'prior_bpd', 'vb_term_bpd', 'p_mean_variance', 'ddpm_step', 'ddpm_loss',
    'score_from_eps', 'ddim_timesteps', 'ddim_step', 'respace', 'ddpm_sample', 'ddim_sample', 'sample_generators', 'slerp',
    # guidance, the U-Net, the data
    'ClassifierFreeGuidance', 'ClassifierGuidance', 'guided_eps_model', 'UNet', 'PRESETS', 'load_images', 'load_labels',
    'prepare', 'to_model_range', 'to_uint8', 'DataError',
    # a trained model, the trainer
    'load_model', 'load_checkpoint', 'CheckpointError', 'TrainConfig', 'train', 'Trainer', 'train_state', 'train_step', 'ConfigError',
    # evaluation
    'sample_images', 'evaluate_model', 'nll_bpd', 'fid', 'frechet_distance', 'feature_statistics', 'feature_extractor',
    'DigitsFeatures', 'InceptionFeatures', 'save_fid_stats', 'load_fid_stats',
}


def test_each_module_lists_its_own_names_only():
    "A module's __all__ names what the module defines, never a name it imported from another module."
    import ddpm_lit
    for m in (ddpm_lit.forward_process, ddpm_lit.posterior, ddpm_lit.elbo, ddpm_lit.ddpm, ddpm_lit.ddim, ddpm_lit.sampling,
              ddpm_lit.guidance, ddpm_lit.unet, ddpm_lit.data, ddpm_lit.checkpoint, ddpm_lit.training, ddpm_lit.evaluation):
        for name in m.__all__:
            obj = getattr(m, name)
            home = getattr(getattr(obj, 'func', obj), '__module__', None)        # a cached_property: its function's
            if home is not None and not isinstance(obj, (int, float, str, tuple, dict)): assert home == m.__name__, (m.__name__, name, home)


def test_no_module_imports_from_a_module_above_it():
    "The modules import downwards only: a module uses those below it (guidance, the next chapter's, lies below the samplers that apply it), never the package's __init__ or the command line."
    import ast, ddpm_lit
    from pathlib import Path
    order = ['forward_process', 'posterior', 'elbo', 'ddpm', 'ddim', 'guidance', 'sampling', 'unet', 'data', 'checkpoint',
             'training', 'evaluation', 'cli', '__main__']
    for i, name in enumerate(order):
        tree = ast.parse((Path(ddpm_lit.__file__).parent / f'{name}.py').read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                target = node.module or ''
                assert target in order[:i], (name, 'imports', target or [a.name for a in node.names])


def test_star_import_binds_the_public_api_only():
    "No classmethods or schedule arrays as names of their own, no command line; and nothing public is missing."
    res = run('ns = {}\nexec("from ddpm_lit import *", ns)\nimport ddpm_lit\n'
              'print(" ".join(sorted(k for k in ns if k != "__builtins__")))\n'
              'print(ddpm_lit.cli.main.__module__, hasattr(ddpm_lit, "main"), hasattr(ddpm_lit, "tiny"))')
    assert res.returncode == 0, res.stderr
    names, reach = res.stdout.splitlines()
    assert set(names.split()) == PUBLIC
    assert reach == 'ddpm_lit.cli False False'


def test_public_names_are_what_they_say():
    import inspect
    import ddpm_lit
    for name in ddpm_lit.__all__:
        obj = getattr(ddpm_lit, name)
        assert not isinstance(obj, (classmethod, staticmethod, property)), name
        assert not name.startswith('_'), name
    assert inspect.ismethod(ddpm_lit.UNet.tiny) and ddpm_lit.NoiseSchedule.linear(4).posterior_variance.shape == (4,)
