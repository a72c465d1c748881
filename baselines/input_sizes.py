"""Input-size rules of the built-in backbones, importable without torch (checked by
``morse-bench check`` and the Snakefile before any job)."""

from __future__ import annotations

from collections.abc import Callable

InputSizeCheck = Callable[[list[int], dict], "str | None"]


def unetr_input_size_problem(patch_size: list[int], options: dict) -> str | None:
    """Why UNETR cannot take ``patch_size`` (its token grid fixes the input to ``img_size``)."""
    size = options.get("img_size", 96)
    sizes = [int(size)] * len(patch_size) if isinstance(size, int) else [int(s) for s in size]
    if sizes != [int(p) for p in patch_size]:
        return (f"unetr takes exactly img_size {sizes} but patch_size is {list(patch_size)}; "
                f"set the backbone option img_size to {list(patch_size)} or patch_size to {sizes}")
    return None


#: Built-in backbone name -> its input-size rule (backbones without a rule accept any size).
BUILTIN_INPUT_SIZE_CHECKS: dict[str, InputSizeCheck] = {"unetr": unetr_input_size_problem}
