"""map_renamed_distributions: config bases under re-published codebases."""
from importlib import metadata

from mmengine.config import utils as config_utils

from mmvlm.utils.package_names import map_renamed_distributions


def test_a_missing_distribution_maps_to_the_installed_provider(monkeypatch):
    table = {'mmseg': 'mmsegmentation', 'mmdet': 'mmdet'}
    monkeypatch.setattr(config_utils, 'MODULE2PACKAGE', table)

    def version(dist):
        if dist == 'mmsegmentation':
            raise metadata.PackageNotFoundError(dist)
        return '1.0'

    monkeypatch.setattr(metadata, 'version', version)
    monkeypatch.setattr(metadata, 'packages_distributions',
                        lambda: {'mmseg': ['onedl-mmsegmentation']})
    assert map_renamed_distributions() == {'mmseg': 'onedl-mmsegmentation'}
    assert table == {'mmseg': 'onedl-mmsegmentation', 'mmdet': 'mmdet'}


def test_installed_upstream_names_are_left_alone():
    before = dict(config_utils.MODULE2PACKAGE)
    assert map_renamed_distributions() == {}
    assert config_utils.MODULE2PACKAGE == before
