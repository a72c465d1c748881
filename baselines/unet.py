"""The paper's UNet: 5 levels, encoder widths 16-32-64-128-256, built from MONAI's BasicUNet.

The decoder feature maps returned as experts are, coarse to fine: 256 @ 1/16 (bottleneck),
128 @ 1/8, 64 @ 1/4, 32 @ 1/2 and 16 @ full resolution, as in the authors' SSL4MIS-style UNet.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet
from monai.networks.nets.basic_unet import UpCat

from baselines.input_sizes import unet_input_size_problem
from baselines.registry import register


class _UpCatPadOnlyIfNeeded(UpCat):
    """MONAI's UpCat, but the replicate padding runs only when a side actually needs it.

    UpCat pads the upsampled map with ``F.pad(x, [0, 0, ...], "replicate")`` even when the
    sizes already match (every input divisible by 16): an identity, but one whose backward
    ``torch.compile`` cannot trace on CPU (torch 2.13: "expected ... stride" from the fake
    ``replication_pad2d_backward``). Same outputs and gradients, same state dict.
    """

    def forward(self, x: torch.Tensor, x_e: torch.Tensor | None) -> torch.Tensor:
        if x_e is None or not self.is_pad:
            return super().forward(x, x_e)
        x_0 = self.upsample(x)
        pad = [0] * (2 * (x.dim() - 2))
        for i in range(x.dim() - 2):
            if x_e.shape[-i - 1] != x_0.shape[-i - 1]:
                pad[2 * i + 1] = 1
        if any(pad):
            x_0 = torch.nn.functional.pad(x_0, pad, "replicate")
        return self.convs(torch.cat([x_e, x_0], dim=1))


class FeatureUNet(BasicUNet):
    """MONAI BasicUNet whose forward also returns the decoder feature maps (coarse to fine)."""

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int, **options) -> None:
        widths = tuple(options.pop("features", (16, 32, 64, 128, 256, 16)))
        options.setdefault("norm", ("batch", {}))
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=num_classes,
            features=widths,
            **options,
        )
        for upcat in (self.upcat_4, self.upcat_3, self.upcat_2, self.upcat_1):
            upcat.__class__ = _UpCatPadOnlyIfNeeded  # same module, compile-friendly padding
        self.spatial_dims = spatial_dims
        self.feature_channels = [widths[4], widths[3], widths[2], widths[1], widths[5]]
        # Inference pads inputs to a multiple of this; in training UpCat pads odd sides itself.
        self.size_divisor = 16

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[override]
        x0 = self.conv_0(x)
        x1 = self.down_1(x0)
        x2 = self.down_2(x1)
        x3 = self.down_3(x2)
        x4 = self.down_4(x3)
        u4 = self.upcat_4(x4, x3)
        u3 = self.upcat_3(u4, x2)
        u2 = self.upcat_2(u3, x1)
        u1 = self.upcat_1(u2, x0)
        return self.final_conv(u1), [x4, u4, u3, u2, u1]


@register("unet", spatial_dims=(2, 3))
def build_unet(in_channels: int, num_classes: int, spatial_dims: int, **options) -> FeatureUNet:
    """Build the paper's 5-level UNet (widths 16-32-64-128-256, BatchNorm, LeakyReLU)."""
    return FeatureUNet(spatial_dims, in_channels, num_classes, **options)


build_unet.input_size_problem = unet_input_size_problem  # checked by morse-bench check (morse.config)
