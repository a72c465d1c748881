"""Experiment configuration, by concern:

- :mod:`~morse.config.schema`: the JSON schema, its validators, :class:`ConfigError`;
- :mod:`~morse.config.loading`: strict YAML reading, validation with defaults, the checks' order;
- :mod:`~morse.config.checks`: what the schema cannot check (names, backbones against datasets,
  input sizes, evaluation widths, per-dataset training settings, the device);
- :mod:`~morse.config.variants`: each variant's head configuration, the ablation variants;
- :mod:`~morse.config.datasets`: per-dataset training settings, dimensionality, backbones;
- :mod:`~morse.config.runs`: the run matrix and each run's resolved config (run.json's);
- :mod:`~morse.config.references`: the published numbers' rows and the regime settings;
- :mod:`~morse.config.identity`: a run's identity, its hash, the settings that do not retrain;
- :mod:`~morse.config.stages`: what each workflow step reads of the config (the rules' params).

The names below are re-exported, so ``from morse.config import X`` works for each of them.
"""

from morse.config.checks import (
    REFERENCE_VARIANT,
    check_dataset_train,
    check_device,
    check_evaluation,
    check_input_sizes,
    check_names,
    check_reference_variant,
    check_safe_names,
)
from morse.config.datasets import dataset_backbone_pairs, dataset_spatial_dims, dataset_train
from morse.config.identity import (
    CUDA_RUNTIME_TRAIN_KEYS,
    RUNTIME_RUN_KEYS,
    RUNTIME_TRAIN_KEYS,
    config_hash,
    merge_settings,
    resolved_device,
    run_identity,
    run_settings,
)
from morse.config.loading import load_config, read_yaml, resolve_config_files, validate_config
from morse.config.references import (
    BACKBONE_REFERENCE,
    REFERENCE_RESULTS,
    check_references,
    check_regime,
)
from morse.config.runs import pretrain_config, run_config, run_matrix
from morse.config.schema import REPO_ROOT, SCHEMA_PATH, ConfigError, load_schema
from morse.config.stages import (
    evaluation_settings,
    local_source_problem,
    prepare_entry,
    source_entry,
)
from morse.config.variants import (
    PRETRAIN,
    ablation_identities,
    ablation_name,
    ablation_variants,
    variant_head,
)

__all__ = [
    "BACKBONE_REFERENCE",
    "CUDA_RUNTIME_TRAIN_KEYS",
    "PRETRAIN",
    "REFERENCE_RESULTS",
    "REFERENCE_VARIANT",
    "REPO_ROOT",
    "RUNTIME_RUN_KEYS",
    "RUNTIME_TRAIN_KEYS",
    "SCHEMA_PATH",
    "ConfigError",
    "ablation_identities",
    "ablation_name",
    "ablation_variants",
    "check_dataset_train",
    "check_device",
    "check_evaluation",
    "check_input_sizes",
    "check_names",
    "check_references",
    "check_regime",
    "check_reference_variant",
    "check_safe_names",
    "config_hash",
    "dataset_backbone_pairs",
    "dataset_spatial_dims",
    "dataset_train",
    "evaluation_settings",
    "load_config",
    "load_schema",
    "local_source_problem",
    "merge_settings",
    "prepare_entry",
    "pretrain_config",
    "read_yaml",
    "resolve_config_files",
    "resolved_device",
    "run_config",
    "run_identity",
    "run_matrix",
    "run_settings",
    "source_entry",
    "validate_config",
    "variant_head",
]
