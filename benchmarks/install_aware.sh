#!/bin/sh
# Install AWARE (PyPI `aware`, MIT) into the benchmark's own environment VENV, beside its torch.
# aware 2.0.1 pins torch 2.7.1 and old numpy/librosa; its code runs on the torch and numpy already there,
# so it goes in without its pins, followed by the few modules it imports that the bench extra lacks.
set -eu
venv=${1:?usage: benchmarks/install_aware.sh VENV (the environment with torch and the bench extra)}
"$venv/bin/pip" install --no-deps aware==2.0.1
"$venv/bin/pip" install webrtcvad==2.0.10 resampy "setuptools<82"
