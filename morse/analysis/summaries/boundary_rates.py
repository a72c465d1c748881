"""Error rates against distance to the reference boundary, pooled over cases and seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BOUNDARY_KEYS", "boundary_error_rates"]

BOUNDARY_KEYS = ["dataset", "backbone", "variant", "output"]


def boundary_error_rates(boundary: pd.DataFrame) -> pd.DataFrame:
    """Error rate per dataset x backbone x variant x output x distance bin.

    ``error_rate`` = sum(n_errors) / sum(n_voxels) pooled over cases and seeds; ``low`` /
    ``high`` = the smallest and largest per-seed rate (each pooled over cases), NaN with one
    seed; ``n_seeds``, ``n_voxels`` and ``n_errors`` alongside.
    """
    columns = [*BOUNDARY_KEYS, "distance_mm", "error_rate", "low", "high", "n_seeds",
               "n_voxels", "n_errors"]  # fmt: skip
    if boundary.empty:
        return pd.DataFrame(columns=columns)
    data = boundary.assign(
        n_voxels=pd.to_numeric(boundary["n_voxels"], errors="coerce").fillna(0),
        n_errors=pd.to_numeric(boundary["n_errors"], errors="coerce").fillna(0),
        distance_mm=pd.to_numeric(boundary["distance_mm"], errors="coerce"),
    ).dropna(subset=["distance_mm"])
    for key in BOUNDARY_KEYS:
        data[key] = data[key].astype(str)
    keys = [*BOUNDARY_KEYS, "distance_mm"]
    pooled = data.groupby(keys, as_index=False)[["n_voxels", "n_errors"]].sum()
    pooled = pooled[pooled["n_voxels"] > 0]
    pooled["error_rate"] = pooled["n_errors"] / pooled["n_voxels"]
    per_seed = data.groupby([*keys, "seed"], as_index=False)[["n_voxels", "n_errors"]].sum()
    per_seed = per_seed[per_seed["n_voxels"] > 0]
    per_seed["rate"] = per_seed["n_errors"] / per_seed["n_voxels"]
    spread = per_seed.groupby(keys, as_index=False).agg(
        low=("rate", "min"), high=("rate", "max"), n_seeds=("seed", "nunique")
    )
    out = pooled.merge(spread, on=keys, how="left")
    single = out["n_seeds"] < 2
    out.loc[single, ["low", "high"]] = np.nan
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out[columns].sort_values(keys, kind="stable").reset_index(drop=True)
