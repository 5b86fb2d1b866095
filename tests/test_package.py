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
    # forward process, posterior, bound, DDPM, DDIM, samplers
    'NoiseSchedule', 'extract', 'check_timesteps', 'check_same_shape', 'schedule_array', 'q_posterior_mean_variance', 'predict_x0_from_eps',
    'predict_eps_from_x0', 'normal_kl', 'discretized_gaussian_log_likelihood', 'mean_flat', 'prior_bpd', 'vb_term_bpd',
    'VAR_TYPES', 'reverse_variance', 'p_mean_variance', 'ddpm_step', 'vlb_weight', 'ddpm_loss', 'score_from_eps',
    'SPACINGS', 'ddim_timesteps', 'ddim_step', 'respace', 'ddpm_sample', 'ddim_sample', 'slerp',
    # guidance
    'classifier_grad', 'ClassifierGuidance', 'ClassifierFreeGuidance', 'check_labels', 'guided_eps_model', 'GaussianMixture',
    # the U-Net and the data
    'PRESETS', 'timestep_embedding', 'group_norm', 'zero_init', 'ResBlock', 'AttnBlock', 'Downsample', 'Upsample', 'UNet',
    'IMAGE_SUFFIXES', 'BUILTIN', 'HOW_TO_GET', 'DataError', 'load_digits_mnist', 'load_digits_8x8', 'read_idx_images',
    'read_cifar10_batches', 'read_image_folder', 'load_images', 'prepare', 'to_model_range', 'to_uint8',
    # training and checkpoints
    'CHECKPOINT_FORMAT', 'COMPILE_MODES', 'TrainConfig', 'ConfigError', 'CheckpointError', 'NonFiniteLossError',
    'atomic_write', 'save_checkpoint', 'load_checkpoint', 'check_config', 'make_schedule', 'image_grid', 'save_grid', 'train',
    'model_from_checkpoint', 'DiskFullError', 'load_model', 'schedule_from_config', 'pid_alive', 'remove_stale_temporaries',
    'CHOICES', 'DEVICES', 'FLIPS', 'PRESET_NAMES', 'SCHEDULES', 'SWITCHES', 'FIXED_ON_RESUME', 'config_help', 'TrainState',
    'Trainer', 'train_step', 'drop_labels', 'make_ema', 'ema_warmup_multi_avg_fn', 'set_lr', 'resume_conflicts',
    'update_ema', 'update_step', 'compile_state',
    'acquire_lock', 'release_lock', 'output_folder', 'data_id',
    # safe writing, interruption, and what a run folder holds
    'WriteError', 'TMP_MARK', 'temporary_name', 'signals_deferred', 'Interrupted', 'MAX_SEED', 'RUN_FILES', 'RUN_MARK',
    'claim_folder', 'trim_log', 'data_fingerprint', 'grid_scale', 'enlarge',
    # labels
    'load_labels', 'class_names', 'idx_label_file', 'read_idx_labels',
    # evaluation
    'DIGITS_SETS', 'INCEPTION_WEIGHTS', 'INCEPTION_URL', 'INCEPTION_FID_SAMPLES', 'frechet_distance', 'FeatureError',
    'cache_dir', 'digits_labels', 'split_indices', 'digits_split', 'DigitsClassifier', 'train_digits_classifier',
    'digits_classifier', 'DigitsFeatures', 'InceptionFeatures', 'feature_statistics', 'fid', 'save_fid_stats',
    'load_fid_stats', 'SAMPLERS', 'PRECISIONS', 'check_sampler', 'sample_images', 'FEATURE_KINDS', 'feature_extractor',
    'evaluate_model', 'nll_bpd', 'NonFiniteSamplesError', 'read_fid_stats', 'feature_kind_info', 'stats_features_fit',
    'reference_claim_holds', 'digits_classifier_path',
}


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
