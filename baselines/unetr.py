"""UNETR (Hatamizadeh et al. 2022) from MONAI, returning its decoder stages as experts.

The paper's UNETR experts are 64 @ 1/4, 32 @ 1/2 and 16 @ full resolution (feature_size 16): the
outputs of MONAI's ``decoder4``, ``decoder3`` and ``decoder2``, coarse to fine. With
``include_decoder5=True`` the 128 @ 1/8 output of ``decoder5`` is prepended (four experts).

UNETR's ViT has a fixed token grid: inputs must have exactly ``img_size`` (default 96^3); the
sliding-window inference therefore uses ``patch_size == img_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import UNETR

from baselines.input_sizes import unetr_input_size_problem
from baselines.registry import register

# ViT sizes: "base" is the published UNETR (ViT-B/16 widths); "small" is a CPU-sized variant.
UNETR_SIZES: dict[str, dict[str, int]] = {
    "base": {"hidden_size": 768, "mlp_dim": 3072, "num_heads": 12},
    "small": {"hidden_size": 96, "mlp_dim": 192, "num_heads": 4},
}


class FeatureUNETR(UNETR):
    """MONAI UNETR whose forward also returns the decoder feature maps (coarse to fine)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        img_size: int | Sequence[int] = 96,
        size: str = "base",
        include_decoder5: bool = False,
        **options,
    ) -> None:
        if size not in UNETR_SIZES:
            raise ValueError(f"unetr size must be one of {sorted(UNETR_SIZES)}, got {size!r}")
        sizes = tuple([int(img_size)] * spatial_dims if isinstance(img_size, int) else map(int, img_size))
        if any(s % 16 for s in sizes):
            raise ValueError(f"unetr img_size must be divisible by 16 (patch size), got {sizes}")
        kwargs = {"feature_size": 16, **UNETR_SIZES[size], **options}
        super().__init__(
            in_channels=in_channels,
            out_channels=num_classes,
            img_size=sizes,
            spatial_dims=spatial_dims,
            **kwargs,
        )
        self.spatial_dims = spatial_dims
        self.img_size = sizes  # the only input size UNETR accepts
        self.size_divisor = 16
        self.include_decoder5 = bool(include_decoder5)
        f = int(kwargs["feature_size"])
        self.feature_channels = ([8 * f] if include_decoder5 else []) + [4 * f, 2 * f, f]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[override]
        if tuple(x.shape[2:]) != self.img_size:
            raise ValueError(
                f"unetr was built for img_size {self.img_size} and cannot take input "
                f"{tuple(x.shape[2:])}; use patch_size == img_size"
            )
        x_vit, hidden_states_out = self.vit(x)
        enc1 = self.encoder1(x)
        enc2 = self.encoder2(self.proj_feat(hidden_states_out[3]))
        enc3 = self.encoder3(self.proj_feat(hidden_states_out[6]))
        enc4 = self.encoder4(self.proj_feat(hidden_states_out[9]))
        dec4 = self.proj_feat(x_vit)
        dec3 = self.decoder5(dec4, enc4)  # 8f @ 1/8
        dec2 = self.decoder4(dec3, enc3)  # 4f @ 1/4
        dec1 = self.decoder3(dec2, enc2)  # 2f @ 1/2
        out = self.decoder2(dec1, enc1)  # f @ 1
        features = ([dec3] if self.include_decoder5 else []) + [dec2, dec1, out]
        return self.out(out), features


@register("unetr", spatial_dims=(3,))
def build_unetr(in_channels: int, num_classes: int, spatial_dims: int, **options) -> FeatureUNETR:
    """Build UNETR. Options: ``img_size`` (default 96), ``size`` ("base" | "small"),
    ``include_decoder5``, and any MONAI UNETR keyword (``feature_size``, ``hidden_size``,
    ``mlp_dim``, ``num_heads``, ``norm_name``, ``dropout_rate``, ...), which override ``size``."""
    return FeatureUNETR(spatial_dims, in_channels, num_classes, **options)


build_unetr.input_size_problem = unetr_input_size_problem  # checked by morse-bench check (morse.config)
