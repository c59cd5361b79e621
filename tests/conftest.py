"""Test-wide settings: never reach a model hub, keep CPU threads modest."""
import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))
