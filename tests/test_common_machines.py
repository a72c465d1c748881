"""Which run records share a machine (bit-exactness holds only there): morse.common's grouping."""

from __future__ import annotations

import pytest

from morse.common import different_machines, machine_groups, machine_signature


def _run(variant: str, seed: int = 0, **machine: str) -> dict:
    base = {"cpu_model": "Xeon 8375C", "cpu_capability": "AVX512", "blas": "mkl", "torch": "2.13.0+cpu"}
    return {"dataset": "phantom2d", "backbone": "unet", "variant": variant, "seed": seed,
            "device": "cpu", "machine": {**base, **machine}, "host": {"hostname": f"node{seed}"}}


def test_runs_on_the_same_kind_of_machine_are_one_group_whatever_the_host() -> None:
    runs = [_run("baseline", 0), _run("morse", 1)]  # two hosts, same CPU and kernels
    assert not different_machines(runs)
    assert list(machine_groups(runs).values()) == [["phantom2d/unet/baseline/seed0", "phantom2d/unet/morse/seed1"]]


@pytest.mark.parametrize("change", [{"cpu_capability": "AVX2"}, {"cpu_model": "EPYC 7763"},
                                    {"blas": "openblas"}, {"torch": "2.12.0+cpu"}])
def test_a_different_cpu_kernel_or_library_is_another_machine(change: dict) -> None:
    runs = [_run("baseline"), _run("morse", **change)]
    assert different_machines(runs)
    groups = machine_groups(runs)
    assert sorted(map(len, groups.values())) == [1, 1]
    assert [machine_signature(r) for r in runs][0] != [machine_signature(r) for r in runs][1]


def test_a_cuda_run_differs_from_a_cpu_run_and_old_records_are_unknown() -> None:
    assert different_machines([_run("baseline"), {**_run("morse"), "device": "cuda:0 (NVIDIA A100)"}])
    old = {"dataset": "d", "backbone": "b", "variant": "v", "seed": 0, "device": "cpu"}
    assert machine_signature(old) == ("unknown", "unknown", "unknown", "unknown", "cpu")
    assert not different_machines([old, dict(old)])
