"""The install manifest (install/manifest.py); install and uninstall end to end are in test_install.py."""

from __future__ import annotations

from dragd.install.manifest import missing_chain


def test_missing_chain_lists_only_what_does_not_exist(tmp_path):
    assert missing_chain(tmp_path / "a" / "b" / "c") == [tmp_path / "a", tmp_path / "a" / "b",
                                                                 tmp_path / "a" / "b" / "c"]
    (tmp_path / "a").mkdir()
    assert missing_chain(tmp_path / "a" / "b") == [tmp_path / "a" / "b"]
    assert missing_chain(tmp_path / "a") == []
