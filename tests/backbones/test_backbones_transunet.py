"""TransUNet: the official R50+ViT-B_16.npz key layout loads where it should, errors name the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import build_backbone
from baselines.transunet import TransUNet, load_official_npz, npz_key_shapes


def _official_like_npz(model: TransUNet, path: Path, grid: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(s).astype(np.float32) for k, s in npz_key_shapes(model).items()}
    if grid is not None:  # a pretraining grid other than the model's (class token included)
        arrays["Transformer/posembed_input/pos_embedding"] = rng.standard_normal(
            (1, grid * grid + 1, model.config.hidden_size)
        ).astype(np.float32)
    np.savez(path, **arrays)
    return arrays


def _small(in_channels: int = 1) -> TransUNet:
    torch.manual_seed(0)
    return build_backbone("transunet", in_channels, 3, 2, size="small", img_size=32)


def test_key_layout_is_the_official_one() -> None:
    keys = npz_key_shapes(_small())
    for key in (
        "conv_root/kernel",
        "gn_root/scale",
        "block1/unit1/conv1/kernel",
        "block1/unit1/conv_proj/kernel",
        "block3/unit1/gn_proj/bias",
        "embedding/kernel",
        "Transformer/posembed_input/pos_embedding",
        "Transformer/encoder_norm/scale",
        "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel",
        "Transformer/encoderblock_1/MlpBlock_3/Dense_1/bias",
        "Transformer/encoderblock_1/LayerNorm_2/scale",
    ):
        assert key in keys, key
    assert keys["conv_root/kernel"] == (7, 7, 3, 16)  # HWIO
    assert keys["Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel"] == (96, 2, 48)


def test_base_size_matches_the_official_model() -> None:
    model = TransUNet(1, 9, size="base", img_size=224)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(105.3e6, rel=2e-3)
    assert model.feature_channels == [512, 256, 128, 64, 16]


def test_weights_land_where_expected(tmp_path: Path) -> None:
    model = _small()
    arrays = _official_like_npz(model, tmp_path / "w.npz")
    load_official_npz(model, tmp_path / "w.npz")
    h = model.config.hidden_size
    a = arrays["block2/unit1/conv2/kernel"]
    assert torch.equal(model.resnet.body[1][0].conv2.weight, torch.from_numpy(a.transpose(3, 2, 0, 1)))
    assert torch.equal(model.resnet.root_gn.weight, torch.from_numpy(arrays["gn_root/scale"]))
    att = "Transformer/encoderblock_1/MultiHeadDotProductAttention_1"
    qkv = model.blocks[1].attn.qkv
    assert torch.equal(qkv.weight[h:2 * h], torch.from_numpy(arrays[f"{att}/key/kernel"].reshape(h, h).T))
    assert torch.equal(qkv.bias[2 * h:], torch.from_numpy(arrays[f"{att}/value/bias"].reshape(-1)))
    assert torch.equal(
        model.blocks[1].attn.out_proj.weight, torch.from_numpy(arrays[f"{att}/out/kernel"].reshape(h, h).T)
    )
    mlp = "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"
    assert torch.equal(model.blocks[0].mlp.linear1.weight, torch.from_numpy(arrays[mlp].T))
    assert torch.equal(model.blocks[0].norm2.bias, torch.from_numpy(arrays["Transformer/encoderblock_0/LayerNorm_2/bias"]))
    pos = arrays["Transformer/posembed_input/pos_embedding"]
    assert torch.equal(model.pos_embed, torch.from_numpy(pos[:, 1:]))  # class token dropped
    # the query of head 1 is the second block of rows: (hidden, heads, head_dim) -> (out, in)
    q = arrays[f"{att}/query/kernel"]
    assert torch.equal(qkv.weight[h // 2:h], torch.from_numpy(q[:, 1, :].T))
    model.eval()
    logits, _ = model(torch.randn(1, 1, 32, 32))
    assert torch.isfinite(logits).all()


def test_position_embedding_is_resized_for_another_grid(tmp_path: Path) -> None:
    model = _small()
    _official_like_npz(model, tmp_path / "w.npz", grid=4)  # pretrained at 64 px, model at 32 px
    load_official_npz(model, tmp_path / "w.npz")
    assert model.pos_embed.shape == (1, 4, model.config.hidden_size)


def test_rgb_root_kernel_is_adapted_to_other_input_channels(tmp_path: Path) -> None:
    model = _small(in_channels=4)
    arrays = _official_like_npz(model, tmp_path / "w.npz")
    load_official_npz(model, tmp_path / "w.npz")
    rgb = torch.from_numpy(arrays["conv_root/kernel"].transpose(3, 2, 0, 1))
    assert torch.allclose(model.resnet.root_conv.weight[:, 3], rgb[:, 0] * 0.75)


def test_missing_or_misshaped_key_is_named(tmp_path: Path) -> None:
    model = _small()
    arrays = _official_like_npz(model, tmp_path / "w.npz")
    key = "Transformer/encoderblock_1/MlpBlock_3/Dense_0/kernel"
    before = model.resnet.root_conv.weight.clone()
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if k != key})
    with pytest.raises(KeyError, match="MlpBlock_3/Dense_0/kernel"):
        load_official_npz(model, tmp_path / "missing.npz")
    bad = dict(arrays)
    bad["block1/unit1/conv2/kernel"] = np.zeros((3, 3, 5, 16), np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="block1/unit1/conv2/kernel"):
        load_official_npz(model, tmp_path / "bad.npz")
    assert torch.equal(model.resnet.root_conv.weight, before)  # nothing copied on error


def test_pretrained_option_of_the_builder(tmp_path: Path) -> None:
    arrays = _official_like_npz(_small(), tmp_path / "w.npz")
    model = build_backbone("transunet", 1, 3, 2, size="small", img_size=32, pretrained=str(tmp_path / "w.npz"))
    assert torch.equal(model.encoder_norm.weight, torch.from_numpy(arrays["Transformer/encoder_norm/scale"]))
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        build_backbone("transunet", 1, 3, 2, size="small", img_size=32, pretrained=str(tmp_path / "nope.npz"))
