"""TransUNet (Chen et al. 2021): R50 + ViT-B/16 hybrid encoder with a cascaded upsampler (2D).

MONAI has no TransUNet, so this is a compact re-implementation of the official one
(github.com/Beckschen/TransUNet):

* **R50 stem** (ResNet-50 v2 as in BiT / the official hybrid): weight-standardised convolutions
  (``StdConv2d``) with GroupNorm(32, eps 1e-6); root 7x7/2 conv, unpadded 3x3/2 max-pool, then
  blocks of (3, 4, 9) bottleneck units (widths 256, 512, 1024; strides 1, 2, 2). The first two
  blocks' outputs (zero-padded to H/4 and H/8 as in the official code) and the root output (H/2)
  are the skip connections.
* **ViT-B/16**: 1x1 patch embedding of the 1024 @ H/16 map (hybrid "patch size 16"), learned
  position embeddings (interpolated on the fly for grids other than ``img_size / 16``), 12
  pre-norm blocks (MONAI ``TransformerBlock``, hidden 768, MLP 3072, 12 heads), final LayerNorm.
* **Cascaded upsampler** (``DecoderCup``): 3x3 conv (768 -> 512) then four blocks (bilinear x2,
  concatenate the skip, two 3x3 conv + BN + ReLU) with widths 256, 128, 64, 16; a 3x3 conv head.

Decoder feature maps returned as experts, coarse to fine (``size="base"``): 512 @ H/16 (the
``conv_more`` output), 256 @ H/8, 128 @ H/4, 64 @ H/2 and 16 @ H. The authors' MORSE code instead
put their own decoder on this encoder and used three maps, 512 @ H/8, 256 @ H/4 and 32 @ H; with
``num_experts: 3`` the head here uses the three finest official stages (128 @ H/4, 64 @ H/2,
16 @ H) - a documented deviation.

``pretrained``: path to the official ImageNet-21k ``R50+ViT-B_16.npz``; see
:func:`load_official_npz` for the key layout. Only ``size="base"`` matches that file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.blocks import TransformerBlock
from torch import nn

from baselines.input_sizes import transunet_input_size_problem
from baselines.registry import register

__all__ = ["TRANSUNET_SIZES", "TransUNet", "build_transunet", "load_official_npz", "npz_key_shapes"]


@dataclass(frozen=True)
class TransUNetSize:
    """Widths of one TransUNet configuration."""

    width: int  # ResNet root width (64 in R50)
    block_units: tuple[int, int, int]
    hidden_size: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    head_channels: int
    decoder_channels: tuple[int, int, int, int]


TRANSUNET_SIZES: dict[str, TransUNetSize] = {
    "base": TransUNetSize(64, (3, 4, 9), 768, 12, 12, 3072, 512, (256, 128, 64, 16)),
    "small": TransUNetSize(16, (1, 1, 1), 96, 2, 2, 192, 64, (32, 16, 8, 8)),
}


def _gn(channels: int) -> nn.GroupNorm:
    """GroupNorm as in BiT: 32 groups (fewer for the tiny CPU widths), eps 1e-6."""
    return nn.GroupNorm(min(32, channels), channels, eps=1e-6)


class StdConv2d(nn.Conv2d):
    """Convolution with weight standardisation (BiT / official R50 hybrid)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
        weight = (self.weight - mean) / torch.sqrt(var + 1e-5)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Bottleneck(nn.Module):
    """The official ``PreActBottleneck`` (despite its name: conv -> GN -> ReLU, stride on conv2)."""

    def __init__(self, cin: int, cout: int, cmid: int, stride: int) -> None:
        super().__init__()
        self.conv1 = StdConv2d(cin, cmid, 1, bias=False)
        self.gn1 = _gn(cmid)
        self.conv2 = StdConv2d(cmid, cmid, 3, stride=stride, padding=1, bias=False)
        self.gn2 = _gn(cmid)
        self.conv3 = StdConv2d(cmid, cout, 1, bias=False)
        self.gn3 = _gn(cout)
        self.downsample: nn.Module | None = None
        self.gn_proj: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = StdConv2d(cin, cout, 1, stride=stride, bias=False)
            self.gn_proj = nn.GroupNorm(cout, cout)  # official: one group per channel, eps 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        if self.downsample is not None and self.gn_proj is not None:
            residual = self.gn_proj(self.downsample(x))
        y = F.relu(self.gn1(self.conv1(x)))
        y = F.relu(self.gn2(self.conv2(y)))
        y = self.gn3(self.conv3(y))
        return F.relu(residual + y)


class ResNetV2(nn.Module):
    """R50 stem of the hybrid encoder; returns the H/16 map and skips (H/8, H/4, H/2)."""

    def __init__(self, in_channels: int, width: int, block_units: tuple[int, int, int]) -> None:
        super().__init__()
        self.root_conv = StdConv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.root_gn = _gn(width)
        blocks = []
        cin = width
        for i, (units, stride) in enumerate(zip(block_units, (1, 2, 2), strict=True)):
            cmid, cout = width * 2**i, width * 4 * 2**i
            layers = [Bottleneck(cin, cout, cmid, stride)]
            layers += [Bottleneck(cout, cout, cmid, 1) for _ in range(units - 1)]
            blocks.append(nn.Sequential(*layers))
            cin = cout
        self.body = nn.ModuleList(blocks)
        self.out_channels = cin
        self.skip_channels = [width * 8, width * 4, width]  # H/8, H/4, H/2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        height, width = x.shape[-2:]
        x = F.relu(self.root_gn(self.root_conv(x)))
        skips = [x]
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=0)
        for i, block in enumerate(self.body[:-1]):
            x = block(x)
            scale = 4 * (i + 1)  # H/4, then H/8
            pad_h, pad_w = height // scale - x.shape[-2], width // scale - x.shape[-1]
            skips.append(F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x)
        x = self.body[-1](x)
        return x, skips[::-1]


class Conv2dReLU(nn.Sequential):
    """3x3 conv (no bias) + BatchNorm + ReLU, as the official decoder's block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class DecoderBlock(nn.Module):
    """Bilinear x2 upsampling, skip concatenation, two Conv2dReLU."""

    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.conv1 = Conv2dReLU(cin + skip, cout)
        self.conv2 = Conv2dReLU(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class TransUNet(nn.Module):
    """R50-ViT-B/16 TransUNet; ``forward(x) -> (logits, [decoder stages coarse -> fine])``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        size: str = "base",
        img_size: int = 224,
        dropout_rate: float = 0.1,
    ) -> None:
        super().__init__()
        if size not in TRANSUNET_SIZES:
            raise ValueError(f"transunet size must be one of {sorted(TRANSUNET_SIZES)}, got {size!r}")
        if img_size % 16:
            raise ValueError(f"transunet img_size must be divisible by 16, got {img_size}")
        cfg = TRANSUNET_SIZES[size]
        self.config = cfg
        self.spatial_dims = 2
        self.size_divisor = 16
        self.img_size = int(img_size)
        self.in_channels = in_channels
        # The official model repeats a grey-level input to 3 channels; the root conv is RGB then.
        self.repeat_input = in_channels == 1
        self.resnet = ResNetV2(3 if self.repeat_input else in_channels, cfg.width, cfg.block_units)
        self.patch_embed = nn.Conv2d(self.resnet.out_channels, cfg.hidden_size, 1)
        grid = self.img_size // 16
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, cfg.hidden_size))
        self.dropout = nn.Dropout(dropout_rate)
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.hidden_size, cfg.mlp_dim, cfg.num_heads, dropout_rate, qkv_bias=True)
            for _ in range(cfg.num_layers)
        )
        for block in self.blocks:  # official LayerNorm eps
            block.norm1.eps = block.norm2.eps = 1e-6
        self.encoder_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.conv_more = Conv2dReLU(cfg.hidden_size, cfg.head_channels)
        skips = self.resnet.skip_channels + [0]
        cins = [cfg.head_channels, *cfg.decoder_channels[:-1]]
        self.decoder = nn.ModuleList(
            DecoderBlock(cin, cout, skip)
            for cin, cout, skip in zip(cins, cfg.decoder_channels, skips, strict=True)
        )
        self.segmentation_head = nn.Conv2d(cfg.decoder_channels[-1], num_classes, 3, padding=1)
        self.feature_channels = [cfg.head_channels, *cfg.decoder_channels]

    def _position_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        n = int(round(self.pos_embed.shape[1] ** 0.5))
        if grid == (n, n):
            return self.pos_embed
        pos = self.pos_embed.reshape(1, n, n, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=grid, mode="bilinear", align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.repeat_input:
            x = x.repeat(1, 3, 1, 1)
        y, skips = self.resnet(x)
        y = self.patch_embed(y)
        grid = (y.shape[-2], y.shape[-1])
        tokens = self.dropout(y.flatten(2).transpose(1, 2) + self._position_embedding(grid))
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.encoder_norm(tokens)
        y = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)
        y = self.conv_more(y)
        features = [y]
        for i, block in enumerate(self.decoder):
            y = block(y, skips[i] if i < len(skips) else None)
            features.append(y)
        return self.segmentation_head(y), features


# --------------------------------------------------------------------------------------------
# Official ImageNet-21k weights (R50+ViT-B_16.npz, JAX/Flax layout)


def _conv(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(3, 2, 0, 1)))  # HWIO -> OIHW


def _attention_in(hidden: int) -> Callable[[np.ndarray], torch.Tensor]:
    return lambda a: torch.from_numpy(np.ascontiguousarray(a)).reshape(hidden, hidden).t()


def _npz_targets(model: TransUNet) -> dict[str, tuple[tuple[int, ...], list[tuple[torch.Tensor, Callable]]]]:
    """npz key -> (expected npz shape, [(model tensor, conversion npz -> torch)])."""
    cfg = model.config
    h, heads = cfg.hidden_size, cfg.num_heads
    vec = lambda a: torch.from_numpy(np.ascontiguousarray(a)).reshape(-1)  # noqa: E731
    out: dict[str, tuple[tuple[int, ...], list[tuple[torch.Tensor, Callable]]]] = {}

    def conv(key: str, module: nn.Conv2d) -> None:
        o, i, kh, kw = module.weight.shape
        out[key] = ((kh, kw, i, o), [(module.weight, _conv)])

    def norm(prefix: str, module: nn.Module) -> None:
        out[f"{prefix}/scale"] = ((module.weight.numel(),), [(module.weight, vec)])
        out[f"{prefix}/bias"] = ((module.bias.numel(),), [(module.bias, vec)])

    root = model.resnet.root_conv
    out["conv_root/kernel"] = ((7, 7, 3, root.out_channels), [(root.weight, _root_kernel(root))])
    norm("gn_root", model.resnet.root_gn)
    for b, block in enumerate(model.resnet.body, start=1):
        for u, unit in enumerate(block, start=1):
            p = f"block{b}/unit{u}"
            for k in (1, 2, 3):
                conv(f"{p}/conv{k}/kernel", getattr(unit, f"conv{k}"))
                norm(f"{p}/gn{k}", getattr(unit, f"gn{k}"))
            if unit.downsample is not None:
                conv(f"{p}/conv_proj/kernel", unit.downsample)
                norm(f"{p}/gn_proj", unit.gn_proj)
    conv("embedding/kernel", model.patch_embed)
    out["embedding/bias"] = ((h,), [(model.patch_embed.bias, vec)])
    n_tokens = model.pos_embed.shape[1]
    out["Transformer/posembed_input/pos_embedding"] = ((1, n_tokens + 1, h), [(model.pos_embed, None)])
    norm("Transformer/encoder_norm", model.encoder_norm)
    for i, block in enumerate(model.blocks):
        p = f"Transformer/encoderblock_{i}"
        a = f"{p}/MultiHeadDotProductAttention_1"
        qkv_w, qkv_b = block.attn.qkv.weight, block.attn.qkv.bias
        for j, name in enumerate(("query", "key", "value")):
            out[f"{a}/{name}/kernel"] = ((h, heads, h // heads), [(qkv_w[j * h:(j + 1) * h], _attention_in(h))])
            out[f"{a}/{name}/bias"] = ((heads, h // heads), [(qkv_b[j * h:(j + 1) * h], vec)])
        proj = block.attn.out_proj
        out[f"{a}/out/kernel"] = ((heads, h // heads, h), [(proj.weight, _attention_in(h))])
        out[f"{a}/out/bias"] = ((h,), [(proj.bias, vec)])
        m = f"{p}/MlpBlock_3"
        out[f"{m}/Dense_0/kernel"] = ((h, cfg.mlp_dim), [(block.mlp.linear1.weight, lambda a: torch.from_numpy(a).t())])
        out[f"{m}/Dense_0/bias"] = ((cfg.mlp_dim,), [(block.mlp.linear1.bias, vec)])
        out[f"{m}/Dense_1/kernel"] = ((cfg.mlp_dim, h), [(block.mlp.linear2.weight, lambda a: torch.from_numpy(a).t())])
        out[f"{m}/Dense_1/bias"] = ((h,), [(block.mlp.linear2.bias, vec)])
        norm(f"{p}/LayerNorm_0", block.norm1)
        norm(f"{p}/LayerNorm_2", block.norm2)
    return out


def _root_kernel(root: nn.Conv2d) -> Callable[[np.ndarray], torch.Tensor]:
    """RGB root kernel -> the model's input channels (tiled over channels when not 3)."""

    def convert(a: np.ndarray) -> torch.Tensor:
        w = _conv(a)
        c = root.in_channels
        if c == 3:
            return w
        return w[:, [i % 3 for i in range(c)]] * (3.0 / c)

    return convert


def npz_key_shapes(model: TransUNet) -> dict[str, tuple[int, ...]]:
    """Every key :func:`load_official_npz` reads, with the array shape it expects (official layout)."""
    return {key: shape for key, (shape, _) in _npz_targets(model).items()}


def _resize_pos_embed(a: np.ndarray, n_tokens: int, hidden: int) -> torch.Tensor:
    """(1, [1 +] N_old, hidden) -> (1, n_tokens, hidden): drop the class token, zoom the grid."""
    from scipy import ndimage

    grid = a[0]
    n = grid.shape[0]
    if n != n_tokens and (n == n_tokens + 1 or int(round((n - 1) ** 0.5)) ** 2 == n - 1):
        grid = grid[1:]  # the class token
    if grid.shape[0] != n_tokens:
        old, new = int(round(grid.shape[0] ** 0.5)), int(round(n_tokens**0.5))
        grid = grid.reshape(old, old, hidden)
        grid = ndimage.zoom(grid, (new / old, new / old, 1), order=1)  # as the official code
        grid = grid.reshape(new * new, hidden)
    return torch.from_numpy(np.ascontiguousarray(grid))[None]


@torch.no_grad()
def load_official_npz(model: TransUNet, path: str | Path) -> None:
    """Load the official ImageNet-21k ``R50+ViT-B_16.npz`` into ``model`` (encoder only).

    Keys (JAX layout): ``conv_root/kernel``, ``gn_root/{scale,bias}``,
    ``block{b}/unit{u}/{conv1,conv2,conv3,conv_proj}/kernel`` (HWIO -> OIHW), ``.../gn*/...``,
    ``embedding/{kernel,bias}``, ``Transformer/posembed_input/pos_embedding`` (class token dropped,
    grid zoomed if its size differs), ``Transformer/encoder_norm/...`` and per block
    ``Transformer/encoderblock_{i}/MultiHeadDotProductAttention_1/{query,key,value,out}/{kernel,bias}``
    (reshaped to MONAI's fused qkv), ``MlpBlock_3/Dense_{0,1}/...``, ``LayerNorm_{0,2}/...``.
    Everything is checked before anything is copied; a missing or mis-shaped key raises a
    ``KeyError`` / ``ValueError`` naming it. The decoder stays randomly initialised.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"transunet pretrained weights not found: {path}")
    with np.load(path) as data:
        weights = {k: data[k] for k in data.files}
    targets = _npz_targets(model)
    hidden = model.config.hidden_size
    pos_key = "Transformer/posembed_input/pos_embedding"
    for key, (shape, _) in targets.items():
        if key not in weights:
            raise KeyError(f"{path.name}: missing key {key!r} (expected shape {shape})")
        got = tuple(weights[key].shape)
        if key == pos_key:
            ok = len(got) == 3 and got[0] == 1 and got[2] == hidden and got[1] > 0
        else:
            ok = got == shape
        if not ok:
            raise ValueError(f"{path.name}: key {key!r} has shape {got}, expected {shape}")
    for key, (_, pairs) in targets.items():
        for tensor, convert in pairs:
            a = weights[key].astype(np.float32)
            value = _resize_pos_embed(a, tensor.shape[1], hidden) if key == pos_key else convert(a)
            tensor.copy_(value.reshape(tensor.shape))


@register("transunet", spatial_dims=(2,))
def build_transunet(
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    size: str = "base",
    img_size: int = 224,
    pretrained: str | None = None,
    dropout_rate: float = 0.1,
) -> TransUNet:
    """Build TransUNet (``size`` "base" = R50-ViT-B/16, "small" = a CPU-sized variant); load the
    official ImageNet-21k encoder weights from ``pretrained`` (a path to ``R50+ViT-B_16.npz``)."""
    if spatial_dims != 2:
        raise ValueError(f"transunet is 2D only, got spatial_dims={spatial_dims}")
    model = TransUNet(in_channels, num_classes, size=size, img_size=img_size, dropout_rate=dropout_rate)
    if pretrained:
        load_official_npz(model, pretrained)
    return model


build_transunet.input_size_problem = transunet_input_size_problem  # checked by morse-bench check (morse.config)
