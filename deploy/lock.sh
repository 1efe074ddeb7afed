#!/bin/sh
# Regenerates the hash-locked requirements the Docker image installs, for Python 3.11 on any
# platform. Run from the repository root after changing a dependency in pyproject.toml:
#   sh deploy/lock.sh
# Needs uv (pip install uv). tests/test_deploy_kit.py checks the locks against pyproject.toml.
set -eu
# Every runtime dependency of marketbot, pinned, with the sha256 of each published file.
uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "sh deploy/lock.sh" --quiet -o deploy/requirements.lock
# The build backend (pyproject's [build-system] requires), used only in the build stage.
python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' |
    uv pip compile - --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "sh deploy/lock.sh" --quiet -o deploy/build.lock
