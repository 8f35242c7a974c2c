#!/usr/bin/env bash
# Publishes the `lwf` console (which is also the silo: `lwf silo`) with its libtorch into one folder: the
# command both container images run, and the one CI runs.
#   cluster/publish.sh cpu  OUT   TorchSharp + libtorch-cpu-linux-x64 (cluster/Dockerfile)
#   cluster/publish.sh cuda OUT   TorchSharp-cuda-linux: libtorch with CUDA 12.8 (cluster/Dockerfile.cuda)
#   cluster/publish.sh none OUT   TorchSharp alone: bring a libtorch on LD_LIBRARY_PATH (e.g. PyTorch's)
set -euo pipefail
backend=${1:?usage: cluster/publish.sh cpu|cuda|none OUT}
out=${2:?usage: cluster/publish.sh cpu|cuda|none OUT}
cd "$(dirname "$0")/.."
dotnet publish src/Lwf.Cli/Lwf.Cli.csproj -c Release -r linux-x64 --self-contained false \
  -p:LwfTorchBackend="$backend" -o "$out"
