"""The registry of dataset recipes: which fetch and prepare functions produce each ``kind``.

Each dataset-kind module in ``morse/data/recipes/`` (all of them but this one and the helpers
:mod:`~morse.data.recipes.generic_settings` and :mod:`~morse.data.recipes.acdc_split`)
registers one :class:`DatasetRecipe` with :func:`register_recipe` when imported; adding a
dataset is adding such a module and its ``kind`` to the schema.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from morse.data.prepared.format import DatasetInfo

FetchFn = Callable[[str, dict[str, Any], Path], None]
PrepareFn = Callable[[str, dict[str, Any], Path, Path], DatasetInfo]


@dataclass(frozen=True)
class DatasetRecipe:
    """How one dataset kind is fetched (or generated) and prepared."""

    kind: str
    spatial_dims: int  # 2: trained slice-wise; 3: volumetric patches (the default)
    fetch: FetchFn  # (name, config entry, raw_dir) -> None, writes raw_dir atomically
    prepare: PrepareFn  # (name, config entry, raw_dir, out_dir) -> DatasetInfo, atomically
    description: str = ""
    choosable_dims: tuple[int, ...] = ()  # dims a config entry may pick with `spatial_dims`


_RECIPES: dict[str, DatasetRecipe] = {}


def register_recipe(recipe: DatasetRecipe) -> DatasetRecipe:
    """Register a recipe under its kind (called at import time by recipe modules)."""
    _RECIPES[recipe.kind] = recipe
    return recipe


def _load_recipes() -> None:
    import morse.data.recipes as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def available_kinds() -> list[str]:
    """All registered dataset kinds, sorted."""
    _load_recipes()
    return sorted(_RECIPES)


def get_recipe(kind: str) -> DatasetRecipe:
    """The recipe of ``kind``; a clear error lists the known kinds."""
    _load_recipes()
    if kind not in _RECIPES:
        raise ValueError(f"unknown dataset kind {kind!r}; known kinds: {', '.join(sorted(_RECIPES))}")
    return _RECIPES[kind]


def dataset_dims(entry: dict[str, Any]) -> int:
    """The dimensionality a dataset entry trains in: its ``spatial_dims`` where the kind lets
    the config choose (``msd``, ``nnunet``), else the kind's own."""
    recipe = get_recipe(entry.get("kind", ""))
    if "spatial_dims" not in entry:
        return recipe.spatial_dims
    dims = int(entry["spatial_dims"])
    if dims not in recipe.choosable_dims and dims != recipe.spatial_dims:
        raise ValueError(
            f"kind {recipe.kind!r} trains in {recipe.spatial_dims}D only; remove `spatial_dims` "
            f"(or use a kind that offers {dims}D)"
        )
    return dims


def fetch_dataset(name: str, entry: dict[str, Any], out_dir: Path) -> None:
    """Produce the raw dataset of config entry ``entry`` in ``out_dir`` (download or generate)."""
    get_recipe(entry.get("kind", "")).fetch(name, entry, Path(out_dir))


def prepare_dataset(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """Convert the raw dataset in ``raw_dir`` to the prepared format in ``out_dir``."""
    return get_recipe(entry.get("kind", "")).prepare(name, entry, Path(raw_dir), Path(out_dir))
