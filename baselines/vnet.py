"""VNet (Milletari et al. 2016) from MONAI, returning its four decoder stages as experts.

The authors' public 3D code trains a VNet (UA-MT style) on LA. MONAI's VNet has the same layout:
encoder widths 16-32-64-128-256 with 5x5x5 convolutions and residual stages. The decoder feature
maps returned are the outputs of ``up_tr256`` (256 @ 1/8), ``up_tr128`` (128 @ 1/4), ``up_tr64``
(64 @ 1/2) and ``up_tr32`` (32 @ full resolution), coarse to fine.
"""

from __future__ import annotations

import torch
from monai.networks.nets import VNet

from baselines.input_sizes import vnet_input_size_problem
from baselines.registry import register


class FeatureVNet(VNet):
    """MONAI VNet whose forward also returns the decoder feature maps (coarse to fine).

    ``in_channels`` must divide 16 (MONAI's input transition repeats the input to 16 channels).
    """

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int, **options) -> None:
        if 16 % in_channels != 0:
            raise ValueError(f"vnet needs in_channels dividing 16 (1, 2, 4, 8, 16), got {in_channels}")
        super().__init__(
            spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, **options
        )
        self.spatial_dims = spatial_dims
        self.feature_channels = [256, 128, 64, 32]
        self.size_divisor = 16

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[override]
        out16 = self.in_tr(x)
        out32 = self.down_tr32(out16)
        out64 = self.down_tr64(out32)
        out128 = self.down_tr128(out64)
        out256 = self.down_tr256(out128)
        u256 = self.up_tr256(out256, out128)
        u128 = self.up_tr128(u256, out64)
        u64 = self.up_tr64(u128, out32)
        u32 = self.up_tr32(u64, out16)
        return self.out_tr(u32), [u256, u128, u64, u32]


@register("vnet", spatial_dims=(3,))
def build_vnet(in_channels: int, num_classes: int, spatial_dims: int, **options) -> FeatureVNet:
    """Build MONAI's VNet (options passed through: ``act``, ``dropout_prob_down``, ``dropout_prob_up``,
    ``dropout_dim``, ``bias``)."""
    return FeatureVNet(spatial_dims, in_channels, num_classes, **options)


build_vnet.input_size_problem = vnet_input_size_problem  # checked by morse-bench check (morse.config)
