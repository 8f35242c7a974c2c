#!/usr/bin/env bash
# The bf16 benchmarks of the GPU machine in one go (docs/benchmarks.md, "bf16 mixed precision"): PyTorch's bf16
# autocast step and lwf's on the GPT-2-small shape, then the cluster path on one CUDA silo. Run it there after the
# recipe of the shared device README (.device/ holds the published lwf and the .NET runtime):
#   source .device/gpu-env.sh .device && bash tools/gpu-bench-bf16.sh "dotnet .device/app/lwf.dll" > $OUT/bench.txt
set -euo pipefail
LWF=${1:-"dotnet src/Lwf.Cli/bin/Release/net10.0/lwf.dll"}
MODEL=examples/models/gpt2-small
SHAPE="--batch 8 --seq 512 --steps 10 --warmup 3 --device cuda --peak-tflops ${PEAK_TFLOPS:-989}"
echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)'): float32 weights, bf16 autocast"
python3 tools/torch_reference.py bench $MODEL $SHAPE --bf16 | tee /tmp/torch.txt
echo "== lwf: --bf16"
$LWF bench train --model $MODEL $SHAPE --bf16 | tee /tmp/lwf.txt
echo "== lwf: float32 (TF32 matmuls)"
$LWF bench train --model $MODEL $SHAPE
echo "== lwf: one CUDA silo, --bf16"
$LWF bench cluster --model $MODEL --silos 1 --steps 12 --warmup 3 --batch 8 --micro 8 --seq 512 --device cuda --bf16
t=$(grep 'tokens/s (median)' /tmp/torch.txt | awk '{print $NF}'); l=$(grep 'tokens/s (median)' /tmp/lwf.txt | awk '{print $NF}')
python3 -c "print(f'lwf --bf16 / PyTorch bf16 autocast: {float($l) / float($t):.2f}x ({$l} vs {$t} tokens/s)')"
