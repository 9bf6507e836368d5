"""Modality-specific prompt tokens (SkySense V2, section 3.1.2, eq. 1).

    [E_drop, E_i^4]     = F_3([P_i^3, E_i^3])
    [E_drop, E_i^out]   = F_4([P_i^4, E_i^4])

N learnable tokens P_i^j per modality i are prepended to the input of the first block of stage j
and discarded after its last block, so the output token count is unchanged while the shared
blocks can attend to a modality-specific context.
"""

from collections.abc import Sequence

import torch
import torch.nn as nn

from mmskysense.registry import MODELS


@MODELS.register_module()
class ModalityPromptTokens(nn.Module):
    """The prompt tokens ``P_i^j`` of one stage j for every modality i.

    Args:
        modalities: modality names.
        num_prompts: N.
        embed_dims: c_j.
    """

    def __init__(self, modalities: Sequence[str], num_prompts: int, embed_dims: int) -> None:
        super().__init__()
        if num_prompts < 1:
            raise ValueError(f'ModalityPromptTokens: num_prompts must be >= 1, got {num_prompts}')
        self.num_prompts = num_prompts
        self.embed_dims = embed_dims
        self.tokens = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(num_prompts, embed_dims)) for name in modalities}
        )
        for p in self.tokens.values():
            nn.init.trunc_normal_(p, std=0.02)

    def prepend(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """``[P_i, E_i]``: ``B x L x c`` -> ``B x (N + L) x c``."""
        if modality not in self.tokens:
            raise KeyError(
                f'ModalityPromptTokens: no prompt tokens for modality {modality!r}; '
                f'known modalities: {sorted(self.tokens.keys())}'
            )
        prompts = self.tokens[modality].to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
        return torch.cat([prompts, x], dim=1)

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        """Discard ``E_drop``: ``B x (N + L) x c`` -> ``B x L x c``."""
        return x[:, self.num_prompts :]
