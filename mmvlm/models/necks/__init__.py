"""Necks of mmvlm."""
from .llm_prefix_neck import LLMPrefixNeck, build_neck_submodule

__all__ = ['LLMPrefixNeck', 'build_neck_submodule']
