"""benchmarks/compare_revisions.py really times the old code: the lazily loaded ``Segmenter`` of
an archived revision comes from the archive, not from the working tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from bench_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None
    or subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode,
    reason="needs the project's git history",
)


def test_the_old_revision_s_code_is_the_archived_one(tmp_path):
    compare = load_benchmark("compare_revisions")
    old = compare.import_revision("HEAD", tmp_path)
    code_files = {
        "segmenter": old.Segmenter.forward.__code__.co_filename,
        "config": old.resolve_head_config.__code__.co_filename,
    }
    for name, path in code_files.items():
        assert Path(path).is_relative_to(tmp_path), (name, path)
    current = compare.current.Segmenter.forward.__code__.co_filename
    assert not Path(current).is_relative_to(tmp_path)
    # the current package is back in place, and both build the same model from the same seed
    setting = compare.Setting("unet2d_32", "unet", 2, 32, 1)
    models = [compare.build(m, setting, "morse", {"expert_width": 8}, 3).eval()
              for m in (old, compare.current)]
    assert type(models[0]) is not type(models[1])
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(models[0](x), models[1](x), rtol=1e-5, atol=1e-5)


def test_an_unknown_revision_is_a_clear_error(tmp_path):
    compare = load_benchmark("compare_revisions")
    with pytest.raises(SystemExit, match="cannot export morse/ at 'no-such-revision'"):
        compare.import_revision("no-such-revision", tmp_path)


def test_channels_last_applies_to_the_after_model_only():
    compare = load_benchmark("compare_revisions")
    setting = compare.Setting("unet2d_32", "unet", 2, 32, 1)
    weight = "backbone.conv_0.conv_1.conv.weight"
    for flag in (False, True):
        args = compare.argparse.Namespace(channels_last=flag, classes=3)
        after = compare.after_model(setting, "morse", {"expert_width": 8}, args)
        assert after.state_dict()[weight].is_contiguous(memory_format=torch.channels_last) is flag
    before = compare.build(compare.current, setting, "morse", {"expert_width": 8}, 3)
    assert before.state_dict()[weight].is_contiguous()
