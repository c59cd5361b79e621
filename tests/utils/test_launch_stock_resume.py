"""--resume of a stock checkpoint with a language-guided config loads it as
load_from (its optimizer state belongs to the stock model)."""
import torch
from mmengine.config import Config

from mmvlm.utils.launch import resume_stock_as_load_from


def _cfg(path, model_type='LanguageGuidedDetector', resume=True):
    return Config(dict(model=dict(type=model_type), resume=resume,
                       load_from=str(path)))


def _save(path, keys):
    torch.save(
        dict(state_dict={k: torch.zeros(1) for k in keys},
             optimizer=dict(state={}, param_groups=[dict(params=[0])]),
             meta=dict(iter=12)), path)


def test_stock_checkpoint_becomes_load_from(tmp_path):
    path = tmp_path / 'atss_stock.pth'
    _save(path, ['backbone.conv1.weight', 'neck.lateral_convs.0.conv.weight',
                 'bbox_head.atss_cls.weight'])
    cfg = _cfg(path)
    assert resume_stock_as_load_from(cfg)
    assert cfg.resume is False and cfg.load_from == str(path)


def test_language_guided_checkpoint_resumes(tmp_path):
    path = tmp_path / 'lg.pth'
    _save(path, ['backbone.conv1.weight',
                 'neck.text_encoder.projection.weight',
                 'bbox_head.atss_cls.logit_scale'])
    cfg = _cfg(path)
    assert not resume_stock_as_load_from(cfg)
    assert cfg.resume is True


def test_stock_config_and_plain_runs_are_untouched(tmp_path):
    path = tmp_path / 'atss_stock.pth'
    _save(path, ['backbone.conv1.weight'])
    stock = _cfg(path, model_type='ATSS')
    assert not resume_stock_as_load_from(stock) and stock.resume is True
    fresh = _cfg(path, resume=False)
    assert not resume_stock_as_load_from(fresh)
    auto = Config(dict(model=dict(type='LanguageGuidedDetector'),
                       resume=True, load_from=None))
    assert not resume_stock_as_load_from(auto) and auto.resume is True
