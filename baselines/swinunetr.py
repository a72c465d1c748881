"""SwinUNETR (Hatamizadeh et al. 2022) from MONAI, returning its decoder stages (beyond the paper).

Decoder feature maps returned, coarse to fine (f = ``feature_size``, default 24 as in MONAI):
``decoder5`` 8f @ 1/16, ``decoder4`` 4f @ 1/8, ``decoder3`` 2f @ 1/4, ``decoder2`` f @ 1/2 and
``decoder1`` f @ full resolution. Input side lengths must be divisible by 32.
"""

from __future__ import annotations

import torch
from monai.networks.nets import SwinUNETR

from baselines.input_sizes import swinunetr_input_size_problem
from baselines.registry import register


class FeatureSwinUNETR(SwinUNETR):
    """MONAI SwinUNETR whose forward also returns the decoder feature maps (coarse to fine)."""

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int, **options) -> None:
        options.setdefault("feature_size", 24)
        super().__init__(
            in_channels=in_channels, out_channels=num_classes, spatial_dims=spatial_dims, **options
        )
        f = int(options["feature_size"])
        self.spatial_dims = spatial_dims
        self.feature_channels = [8 * f, 4 * f, 2 * f, f, f]
        self.size_divisor = 32

    def forward(self, x_in: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[override]
        self._check_input_size(x_in.shape[2:])
        hidden_states_out = self.swinViT(x_in, self.normalize)
        enc0 = self.encoder1(x_in)
        enc1 = self.encoder2(hidden_states_out[0])
        enc2 = self.encoder3(hidden_states_out[1])
        enc3 = self.encoder4(hidden_states_out[2])
        dec4 = self.encoder10(hidden_states_out[4])
        dec3 = self.decoder5(dec4, hidden_states_out[3])
        dec2 = self.decoder4(dec3, enc3)
        dec1 = self.decoder3(dec2, enc2)
        dec0 = self.decoder2(dec1, enc1)
        out = self.decoder1(dec0, enc0)
        return self.out(out), [dec3, dec2, dec1, dec0, out]


@register("swinunetr", spatial_dims=(3,))
def build_swinunetr(in_channels: int, num_classes: int, spatial_dims: int, **options) -> FeatureSwinUNETR:
    """Build SwinUNETR; options are MONAI SwinUNETR keywords (``feature_size`` (multiple of 12),
    ``depths``, ``num_heads``, ``window_size``, ``use_v2``, ...)."""
    return FeatureSwinUNETR(spatial_dims, in_channels, num_classes, **options)


build_swinunetr.input_size_problem = swinunetr_input_size_problem  # checked by morse-bench check (morse.config)
