#!/usr/bin/env bash
# Snakemake runs this inside the new environment of morse-bench.yaml, from its working directory,
# right after creating it: it installs this repository's package (the `morse-bench` command of every
# rule), editable like environment.yml's `-e .`. The dependencies are pinned in morse-bench.yaml,
# hence --no-deps.
set -euo pipefail
if [ ! -f pyproject.toml ]; then
    echo "morse-bench.post-deploy.sh: no pyproject.toml in $PWD; run Snakemake from the repository root" >&2
    exit 1
fi
python -m pip install --no-deps --editable .
