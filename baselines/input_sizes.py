"""Input-size and option rules of the built-in backbones, importable without torch (checked by
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


def side_rule(name: str, multiple: int, minimum: int, why: str) -> InputSizeCheck:
    """A rule asking every side of the patch to be a multiple of ``multiple`` and at least
    ``minimum``; ``why`` says what in the network needs it."""

    def problem(patch_size: list[int], options: dict) -> str | None:
        sides = [int(p) for p in patch_size]
        if all(p % multiple == 0 and p >= minimum for p in sides):
            return None
        fixed = [max(minimum, -(-p // multiple) * multiple) for p in sides]
        need = " and ".join(
            ([f"a multiple of {multiple}"] if multiple > 1 else [])
            + ([f"at least {minimum}"] if minimum > multiple else []))
        return (f"{name} needs every patch side to be {need} ({why}) but patch_size is {sides}; "
                f"use e.g. {fixed}")

    problem.__name__ = problem.__qualname__ = f"{name}_input_size_problem"
    return problem


# The sizes below were measured (a training forward of each backbone at batch 2): the listed
# smallest sides run, a side off the multiple fails inside the network with a shape mismatch.
unet_input_size_problem = side_rule(
    "unet", 1, 16, "four 2x poolings; odd sides are padded back up, but 8 px pools to nothing")
transunet_input_size_problem = side_rule(
    "transunet", 16, 16, "its skip connections meet the 1/16 token grid")
vnet_input_size_problem = side_rule("vnet", 16, 16, "four stride-2 stages with unpadded skips")
swinunetr_input_size_problem = side_rule(
    "swinunetr", 32, 64, "five 2x patch mergings, and the bottleneck's instance norm needs > 1 voxel")

#: Built-in backbone name -> its input-size rule (backbones without a rule accept any size).
BUILTIN_INPUT_SIZE_CHECKS: dict[str, InputSizeCheck] = {
    "unet": unet_input_size_problem,
    "transunet": transunet_input_size_problem,
    "vnet": vnet_input_size_problem,
    "unetr": unetr_input_size_problem,
    "swinunetr": swinunetr_input_size_problem,
}


def unet_options_problem(options: dict) -> str | None:
    """Why the UNet cannot take its ``features`` option (MONAI's BasicUNet needs six widths)."""
    features = options.get("features")
    if features is None:
        return None
    if (not isinstance(features, (list, tuple)) or len(features) != 6
            or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in features)):
        return (f"features must be six positive integers (the five encoder widths, then the last "
                f"decoder width; default [16, 32, 64, 128, 256, 16]), got {features!r}")
    return None


#: Built-in backbone name -> the rule of its options that the network would only fail on when built.
BUILTIN_OPTION_CHECKS: dict[str, Callable[[dict], str | None]] = {"unet": unet_options_problem}

#: Built-in backbone name -> how many feature maps it hands the point head (the experts K of
#: MORSE when ``num_experts`` is not set), from its options; ``len(feature_channels)`` of the network.
BUILTIN_FEATURE_LEVELS: dict[str, Callable[[dict], int]] = {
    "unet": lambda options: 5,
    "transunet": lambda options: 5,
    "vnet": lambda options: 4,
    "swinunetr": lambda options: 5,
    "unetr": lambda options: 4 if options.get("include_decoder5") else 3,
}
