"""The DINO projection head H (and, in the teacher, its EMA H'), used by eq. 4.

As defined in DINO [6]: a 3-layer MLP to a bottleneck, L2 normalisation, then a weight-normalised
linear layer to K outputs. MGCL's pixel/object/image heads and QSACL's query head are instances.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmskysense.registry import MODELS


@MODELS.register_module()
class DINOHead(nn.Module):
    """MLP -> L2-normalised bottleneck -> weight-normalised prototypes.

    Args:
        in_dims: input feature size.
        out_dims: K, number of outputs (prototypes).
        hidden_dims: MLP hidden size.
        bottleneck_dims: size before the last layer.
        num_layers: MLP layers (>= 1).
        norm_last_layer: keep the last layer's weight norm fixed at 1 (DINO's default).
    """

    def __init__(
        self,
        in_dims: int,
        out_dims: int,
        hidden_dims: int = 2048,
        bottleneck_dims: int = 256,
        num_layers: int = 3,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'DINOHead: `num_layers` must be >= 1, got {num_layers}')
        dims = [in_dims] + [hidden_dims] * (num_layers - 1) + [bottleneck_dims]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.in_dims = in_dims
        self.out_dims = out_dims
        self.norm_last_layer = norm_last_layer
        # last layer: direction v (trainable) and magnitude g (fixed to 1 when norm_last_layer)
        self.last_v = nn.Parameter(torch.empty(out_dims, bottleneck_dims))
        self.last_g = nn.Parameter(torch.ones(out_dims, 1), requires_grad=not norm_last_layer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.last_v, std=0.02)

    def init_weights(self) -> None:
        # mmengine calls init_weights(); keep DINO's initialisation
        self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``... x in_dims`` -> ``... x out_dims`` logits."""
        if x.shape[-1] != self.in_dims:
            raise ValueError(f'DINOHead: expected last dim {self.in_dims}, got {x.shape[-1]}')
        x = F.normalize(self.mlp(x), dim=-1)
        w = self.last_g * F.normalize(self.last_v, dim=-1)
        return F.linear(x, w.to(x.dtype))
