"""Layers of the SkySense V2 backbone, one module per idea of the paper (section 3.1)."""

from .adaptive_patch_merging import AdaptivePatchMerging
from .feed_forward import DropPath, FeedForward
from .global_transformer_block import GlobalSelfAttention, GlobalTransformerBlock
from .mixture_of_experts import MixtureOfExperts
from .modality_prompt_tokens import ModalityPromptTokens
from .modality_tokenizer import ModalityTokenizer
from .swin_v2_block import SwinV2Block, SwinV2WindowAttention

__all__ = [
    'AdaptivePatchMerging',
    'DropPath',
    'FeedForward',
    'GlobalSelfAttention',
    'GlobalTransformerBlock',
    'MixtureOfExperts',
    'ModalityPromptTokens',
    'ModalityTokenizer',
    'SwinV2Block',
    'SwinV2WindowAttention',
]
