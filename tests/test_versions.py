from importlib import metadata

from signbart_parity.versions import installed_version


def test_first_installed_distribution_wins_and_missing_ones_say_so():
    assert installed_version("numpy") == metadata.version("numpy")
    assert installed_version("no-such-distribution-xyz", "numpy") == metadata.version("numpy")
    assert installed_version("no-such-distribution-xyz") == "not installed"
