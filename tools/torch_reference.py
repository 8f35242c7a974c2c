#!/usr/bin/env python3
"""PyTorch reference for Lwf.Orleans' models: GPT-2 and Llama written nanoGPT-style in plain PyTorch (no
transformers needed), reading a Hugging Face model folder (config.json + model.safetensors).

  logits  DIR --input reference.safetensors --out F.safetensors [--bf16]
      float32 logits [B,T,V] for the input_ids / attention_mask of --input; --bf16 runs the forward under
      torch.autocast(bfloat16) as `bf16=True` does in the Trainer (weights stay float32).
  mixed   DIR --input reference.safetensors --out F.safetensors [--alpha 0.2] [--beta 0.1] [--prompt 4]
      the gradient of one LWF learning step (DESIGN.md §1.5): the fixture's learn_ids as learning records (loss on
      tokens 1..), its forget_ids as forgetting records (loss on the response, tokens --prompt..), in one mean over
      every loss token: (Σ learning NLL + Σ forgetting terms) / (all loss tokens), the forgetting terms −α·NLL (ga),
      α·½(log|V| − H)² (me) or α·(2/β)·softplus(β·(log π − log π_ref)) per record (npo; π_ref written to the output).
      Writes grad.{vanilla,ga,me,npo}.NAME and npo_reference [rows].
  bench   DIR --batch 8 --seq 512 --steps 10 --warmup 3 [--bf16] [--device cuda] [--peak-tflops 989]
      the step `lwf bench train` times (forward, backward, clip to norm 1, AdamW lr 1e-4) on random tokens:
      prints the median step, tokens/s and, with --peak-tflops, the MFU, in the same lines as `lwf bench train`.

Runs on PyTorch 1.13 (Debian's python3-torch, CPU) and 2.x (CUDA); no package beyond torch.
"""
import argparse
import json
import math
import os
import statistics
import struct
import time

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
          "F64": torch.float64, "BOOL": torch.bool, "U8": torch.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=DTYPES[e["dtype"]]) if end > begin else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def attend(q, k, v, mask):
    """q [B,H,T,D], k/v [B,H,S,D]; mask [B,1,T,S] bool (True = may look). Softmax in float32, as fused kernels do."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    att = att.float().masked_fill(~mask, torch.finfo(torch.float32).min)
    return F.softmax(att, dim=-1).to(v.dtype) @ v


class Gpt2(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        C, L = c["n_embd"], c["n_layer"]
        inner = c.get("n_inner") or 4 * C
        p = {}  # checkpoint name → parameter
        p["transformer.wte.weight"] = torch.nn.Parameter(torch.randn(c["vocab_size"], C) * 0.02)
        p["transformer.wpe.weight"] = torch.nn.Parameter(torch.randn(c["n_positions"], C) * 0.02)
        for i in range(L):
            for ln in ("ln_1", "ln_2"):
                p[f"transformer.h.{i}.{ln}.weight"] = torch.nn.Parameter(torch.ones(C))
                p[f"transformer.h.{i}.{ln}.bias"] = torch.nn.Parameter(torch.zeros(C))
            for name, (fan_in, fan_out) in {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C), "mlp.c_fc": (C, inner), "mlp.c_proj": (inner, C)}.items():
                p[f"transformer.h.{i}.{name}.weight"] = torch.nn.Parameter(torch.randn(fan_in, fan_out) * 0.02)
                p[f"transformer.h.{i}.{name}.bias"] = torch.nn.Parameter(torch.zeros(fan_out))
        p["transformer.ln_f.weight"] = torch.nn.Parameter(torch.ones(C))
        p["transformer.ln_f.bias"] = torch.nn.Parameter(torch.zeros(C))
        self.p = p
        self.params = torch.nn.ParameterList(p.values())  # registered, so .to() and .parameters() see them

    def forward(self, ids, mask):
        c, p = self.c, self.p
        B, T = ids.shape
        C, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
        W = p.__getitem__  # parameters by their checkpoint names
        x = F.embedding(ids, W("transformer.wte.weight")) + W("transformer.wpe.weight")[:T]         # [B,T,C]
        for i in range(c["n_layer"]):
            h = f"transformer.h.{i}."
            a = F.layer_norm(x, (C,), W(h + "ln_1.weight"), W(h + "ln_1.bias"), eps)
            qkv = torch.addmm(W(h + "attn.c_attn.bias"), a.reshape(-1, C), W(h + "attn.c_attn.weight")).view(B, T, 3 * C)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=2))  # [B,H,T,D]
            y = attend(q, k, v, mask).transpose(1, 2).reshape(B * T, C)
            x = x + torch.addmm(W(h + "attn.c_proj.bias"), y, W(h + "attn.c_proj.weight")).view(B, T, C)
            m = F.layer_norm(x, (C,), W(h + "ln_2.weight"), W(h + "ln_2.bias"), eps).reshape(-1, C)
            m = F.gelu(torch.addmm(W(h + "mlp.c_fc.bias"), m, W(h + "mlp.c_fc.weight")), approximate="tanh")
            x = x + torch.addmm(W(h + "mlp.c_proj.bias"), m, W(h + "mlp.c_proj.weight")).view(B, T, C)
        x = F.layer_norm(x, (C,), W("transformer.ln_f.weight"), W("transformer.ln_f.bias"), eps)
        return x @ W("transformer.wte.weight").t()                                                    # [B,T,V]


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        C, H = c["hidden_size"], c["num_attention_heads"]
        KV, D = c.get("num_key_value_heads") or H, c.get("head_dim") or C // H
        I = c["intermediate_size"]
        p = {}  # checkpoint name → parameter
        p["model.embed_tokens.weight"] = torch.nn.Parameter(torch.randn(c["vocab_size"], C) * 0.02)
        for i in range(c["num_hidden_layers"]):
            l = f"model.layers.{i}."
            p[l + "input_layernorm.weight"] = torch.nn.Parameter(torch.ones(C))
            p[l + "post_attention_layernorm.weight"] = torch.nn.Parameter(torch.ones(C))
            for name, shape in {"self_attn.q_proj": (H * D, C), "self_attn.k_proj": (KV * D, C), "self_attn.v_proj": (KV * D, C),
                                "self_attn.o_proj": (C, H * D), "mlp.gate_proj": (I, C), "mlp.up_proj": (I, C), "mlp.down_proj": (C, I)}.items():
                p[l + name + ".weight"] = torch.nn.Parameter(torch.randn(*shape) * 0.02)
        p["model.norm.weight"] = torch.nn.Parameter(torch.ones(C))
        if not c.get("tie_word_embeddings", False):
            p["lm_head.weight"] = torch.nn.Parameter(torch.randn(c["vocab_size"], C) * 0.02)
        self.p = p
        self.params = torch.nn.ParameterList(p.values())  # registered, so .to() and .parameters() see them
        rope = c.get("rope_parameters") or {}
        theta = rope.get("rope_theta", c.get("rope_theta", 10000.0))
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))

    def rms(self, x, w):
        x32 = x.float()
        return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"])).to(x.dtype)

    def forward(self, ids, mask):
        c, p = self.c, self.p
        B, T = ids.shape
        C, H = c["hidden_size"], c["num_attention_heads"]
        KV, D = c.get("num_key_value_heads") or H, c.get("head_dim") or C // H
        freqs = torch.arange(T, dtype=torch.float32, device=ids.device)[:, None] * self.inv_freq.to(ids.device)[None]
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos(), emb.sin()                                                                 # [T,D]

        def rope(t):
            half = t.shape[-1] // 2
            rotated = torch.cat([-t[..., half:], t[..., :half]], -1)
            return (t.float() * cos + rotated.float() * sin).to(t.dtype)

        x = F.embedding(ids, p["model.embed_tokens.weight"])                                           # [B,T,C]
        for i in range(c["num_hidden_layers"]):
            l = f"model.layers.{i}."
            a = self.rms(x, p[l + "input_layernorm.weight"])
            q = rope(F.linear(a, p[l + "self_attn.q_proj.weight"]).view(B, T, H, D).transpose(1, 2))
            k = rope(F.linear(a, p[l + "self_attn.k_proj.weight"]).view(B, T, KV, D).transpose(1, 2))
            v = F.linear(a, p[l + "self_attn.v_proj.weight"]).view(B, T, KV, D).transpose(1, 2)
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            y = attend(q, k, v, mask).transpose(1, 2).reshape(B, T, H * D)
            x = x + F.linear(y, p[l + "self_attn.o_proj.weight"])
            m = self.rms(x, p[l + "post_attention_layernorm.weight"])
            x = x + F.linear(F.silu(F.linear(m, p[l + "mlp.gate_proj.weight"])) * F.linear(m, p[l + "mlp.up_proj.weight"]),
                             p[l + "mlp.down_proj.weight"])
        x = self.rms(x, p["model.norm.weight"])
        return F.linear(x, p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"])              # [B,T,V]


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    model = {"gpt2": Gpt2, "llama": Llama}[c["model_type"]](c)
    weights = os.path.join(folder, "model.safetensors")
    if os.path.exists(weights):
        tensors = read_safetensors(weights)
        with torch.no_grad():
            for name, p in model.p.items():
                p.copy_(tensors[name].float())
    return model


def causal_mask(attention_mask, T, device):
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    mask = causal[None, None]
    if attention_mask is not None:
        mask = mask & attention_mask.bool()[:, None, None, :]
    return mask


def autocast(device, on):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)


def logits_command(a):
    model = load(a.model).eval()
    ref = read_safetensors(a.input)
    ids, attn = ref["input_ids"], ref.get("attention_mask")
    with torch.no_grad(), autocast(torch.device("cpu"), a.bf16):
        logits = model(ids, causal_mask(attn, ids.shape[1], ids.device)).float()
    write_safetensors(a.out, {"logits": logits})
    print(f"wrote logits {list(logits.shape)} ({'bf16 autocast' if a.bf16 else 'float32'}, torch {torch.__version__}) to {a.out}")


def token_terms(model, ids, loss_from):
    """Per-token NLL [B,T-1], entropy gap ½(log|V| − H)² [B,T-1] and the loss mask [B,T-1] (targets at positions ≥ loss_from)."""
    logits = model(ids, causal_mask(None, ids.shape[1], ids.device)).float()
    logp = F.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    gap = 0.5 * (math.log(logits.shape[-1]) - entropy) ** 2
    positions = torch.arange(1, ids.shape[1])[None, :].expand(ids.shape[0], -1)
    return nll, gap, (positions >= max(1, loss_from)).float()


def mixed_command(a):
    model = load(a.model).eval()
    ref = read_safetensors(a.input)
    learn, forget = ref["learn_ids"], ref["forget_ids"]
    names = list(model.p.keys())
    out = {}
    with torch.no_grad():
        nll, _, mask = token_terms(model, forget, a.prompt)
        # π_ref: the current likelihood moved by a different amount per record, so NPO's weights 2σ(β·ratio) differ from 1.
        reference = -(nll * mask).sum(1) + torch.tensor([-2.0, 0.5, 3.0])[: forget.shape[0]]
    out["npo_reference"] = reference.float()
    for kind in ("vanilla", "ga", "me", "npo"):
        model.zero_grad(set_to_none=True)
        l_nll, _, l_mask = token_terms(model, learn, 1)
        numerator = (l_nll * l_mask).sum()
        tokens = l_mask.sum()
        if kind != "vanilla":
            f_nll, f_gap, f_mask = token_terms(model, forget, a.prompt)
            if kind == "ga":
                numerator = numerator - a.alpha * (f_nll * f_mask).sum()
            elif kind == "me":
                numerator = numerator + a.alpha * (f_gap * f_mask).sum()
            else:
                ratio = -(f_nll * f_mask).sum(1) - reference
                numerator = numerator + a.alpha * (2 / a.beta) * F.softplus(a.beta * ratio).sum()
            tokens = tokens + f_mask.sum()
        (numerator / tokens).backward()
        for name in names:
            out[f"grad.{kind}.{name}"] = model.p[name].grad.detach().float().clone()
    write_safetensors(a.out, out)
    print(f"wrote {len(out)} tensors (α {a.alpha}, β {a.beta}, prompt {a.prompt}, torch {torch.__version__}) to {a.out}")


def bench_command(a):
    device = torch.device(a.device)
    torch.manual_seed(0)
    model = load(a.model).to(device).train()
    c = model.c
    V = c["vocab_size"]
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4,
                            **({"fused": True} if device.type == "cuda" and a.fused else {}))
    ids = torch.randint(0, V, (a.batch, a.seq), device=device)
    mask = causal_mask(None, a.seq, device)
    layers = c.get("n_layer") or c["num_hidden_layers"]
    width = c.get("n_embd") or c["hidden_size"]
    flops_per_token = 6 * n_params + 12 * layers * width * a.seq
    print(f"model: {c['model_type']}, {n_params:,} parameters, float32 weights{', bfloat16 autocast' if a.bf16 else ''}, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"batch {a.batch} × seq {a.seq} = {a.batch * a.seq} tokens per step; {a.warmup} warm-up + {a.steps} timed steps")
    seconds = []
    for i in range(a.warmup + a.steps):
        start = time.perf_counter()
        with autocast(device, a.bf16):
            logits = model(ids, mask)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        s = time.perf_counter() - start
        if i >= a.warmup:
            seconds.append(s)
        print(f"  step {i + 1}{' (warm-up)' if i < a.warmup else ''}: {s:.3f}s  loss {loss.item():.4f}")
    median = statistics.median(seconds)
    tps = a.batch * a.seq / median
    print(f"median step: {median:.3f}s")
    print(f"tokens/s (median): {tps:.1f}")
    achieved = tps * flops_per_token / 1e12
    print(f"model TFLOP/s: {achieved:.2f}" + (f"; MFU {achieved / a.peak_tflops:.1%} of {a.peak_tflops:g}" if a.peak_tflops else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    lg = sub.add_parser("logits")
    lg.add_argument("model")
    lg.add_argument("--input", required=True)
    lg.add_argument("--out", required=True)
    lg.add_argument("--bf16", action="store_true")
    mx = sub.add_parser("mixed")
    mx.add_argument("model")
    mx.add_argument("--input", required=True)
    mx.add_argument("--out", required=True)
    mx.add_argument("--alpha", type=float, default=0.2)
    mx.add_argument("--beta", type=float, default=0.1)
    mx.add_argument("--prompt", type=int, default=4)
    bn = sub.add_parser("bench")
    bn.add_argument("model")
    bn.add_argument("--batch", type=int, default=8)
    bn.add_argument("--seq", type=int, default=128)
    bn.add_argument("--steps", type=int, default=5)
    bn.add_argument("--warmup", type=int, default=2)
    bn.add_argument("--device", default="cpu")
    bn.add_argument("--bf16", action="store_true")
    bn.add_argument("--fused", action="store_true", help="fused AdamW on CUDA")
    bn.add_argument("--peak-tflops", type=float, default=None, help="the device's dense peak, for MFU (H200 bf16: 989)")
    a = ap.parse_args()
    {"logits": logits_command, "mixed": mixed_command, "bench": bench_command}[a.command](a)


if __name__ == "__main__":
    main()
