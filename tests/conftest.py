import pytest


@pytest.fixture(scope='session')
def digits_cache(tmp_path_factory):
    "One cache folder for the whole test session, so the digits classifier is trained once and its statistics shared."
    return tmp_path_factory.mktemp('cache')
