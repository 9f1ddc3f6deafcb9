"""
evo default target: a small byte-level GPT trained for a fixed time budget.
This is the file the search edits. Single device, single file.
Usage: python train.py
"""

import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from prepare import (
    CORPUS,
    SEED,
    SEQ_LEN,
    TIME_BUDGET,
    VOCAB_SIZE,
    budget_clock,
    corpus_info,
    evaluate_bpb,
    make_dataloader,
)

# ---------------------------------------------------------------------------
# Hyperparameters (edit these directly, no CLI flags)
# ---------------------------------------------------------------------------

DEPTH = 4                 # number of transformer blocks [1, 12]
WIDTH = 128               # model dimension (residual stream width)
N_HEAD = 4                # attention heads; head dim = WIDTH // N_HEAD
MLP_RATIO = 4             # MLP hidden size = MLP_RATIO * WIDTH [1, 8]
BATCH_SIZE = 16           # sequences of SEQ_LEN bytes per optimizer step
OPTIMIZER = "adamw"       # "adamw", or "muon" (Muon for 2D block matrices, AdamW for the rest)
LR = 1e-3                 # AdamW peak learning rate
MUON_LR = 0.02            # Muon peak learning rate (used only when OPTIMIZER == "muon")
ADAM_BETAS = (0.9, 0.95)  # AdamW betas
WEIGHT_DECAY = 0.0        # decoupled weight decay on 2D matrices
WARMUP_FRAC = 0.02        # fraction of the budget spent warming the learning rate up from 0
WARMDOWN_FRAC = 0.0       # fraction of the budget at the end spent decaying the learning rate to 0
GRAD_CLIP = 1.0           # max global grad norm (0 disables)
EVAL_BATCH_SIZE = 64      # windows per forward pass during the final evaluation

# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels by a position-dependent angle (RoPE)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH, bias=False)
        self.proj = nn.Linear(WIDTH, WIDTH, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, N_HEAD, C // N_HEAD).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(WIDTH, MLP_RATIO * WIDTH, bias=False)
        self.proj = nn.Linear(MLP_RATIO * WIDTH, WIDTH, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = CausalSelfAttention()
        self.mlp = MLP()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(F.rms_norm(x, (WIDTH,)), cos, sin)
        return x + self.mlp(F.rms_norm(x, (WIDTH,)))


class GPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)
        head_dim = WIDTH // N_HEAD
        freqs = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(SEQ_LEN).float(), freqs)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.apply(self._init)
        for block in self.blocks:  # residual projections start small so each block begins near identity
            nn.init.normal_(block.attn.proj.weight, std=0.02 / math.sqrt(2 * DEPTH))
            nn.init.normal_(block.mlp.proj.weight, std=0.02 / math.sqrt(2 * DEPTH))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, VOCAB_SIZE); the locked evaluation computes the loss from them."""
        T = idx.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(F.rms_norm(x, (WIDTH,)))


# ---------------------------------------------------------------------------
# Optimizer
# ---------------------------------------------------------------------------


def orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximate the nearest semi-orthogonal matrix to g (quintic Newton-Schulz, as in Muon)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + 1e-7)
    if g.shape[0] > g.shape[1]:
        x = x.T
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if g.shape[0] > g.shape[1] else x


class Muon(torch.optim.Optimizer):
    """Momentum SGD whose update is orthogonalized: every direction of a matrix moves equally."""

    def __init__(self, params, lr: float, momentum: float = 0.95, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = orthogonalize(p.grad.lerp(buf, group["momentum"]))  # Nesterov
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * max(1.0, p.shape[0] / p.shape[1]) ** 0.5)


def make_optimizers(model: GPT) -> list[torch.optim.Optimizer]:
    """AdamW on everything, or Muon on the blocks' 2D matrices plus AdamW on embedding and head."""
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    others = [model.embed.weight, model.head.weight]
    if OPTIMIZER == "muon":
        return [Muon(matrices, lr=MUON_LR, weight_decay=WEIGHT_DECAY),
                torch.optim.AdamW(others, lr=LR, betas=ADAM_BETAS, weight_decay=0.0)]
    groups = [{"params": matrices, "weight_decay": WEIGHT_DECAY}, {"params": others, "weight_decay": 0.0}]
    return [torch.optim.AdamW(groups, lr=LR, betas=ADAM_BETAS)]


def lr_multiplier(progress: float) -> float:
    """Linear warmup, constant, then linear warmdown to 0, by fraction of the budget elapsed."""
    if progress < WARMUP_FRAC:
        return progress / WARMUP_FRAC
    if progress > 1.0 - WARMDOWN_FRAC:
        return max(0.0, (1.0 - progress) / WARMDOWN_FRAC)
    return 1.0


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def main() -> None:
    t_start = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(int(os.environ.get("EVO_THREADS", os.cpu_count() or 1)))
    device = os.environ.get("EVO_DEVICE", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = device == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    info = corpus_info()
    loader = make_dataloader(BATCH_SIZE, device)
    model = GPT().to(device)
    optimizers = make_optimizers(model)
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    num_params = sum(p.numel() for p in model.parameters())
    print(f"corpus: {CORPUS} | params: {num_params / 1e6:.2f}M | device: {device} | budget: {TIME_BUDGET:g}s")

    step, smooth, tokens, training_time = 0, 0.0, 0, 0.0
    print_every = min(5.0, 0.02 * TIME_BUDGET)
    t_train, last_print = budget_clock(), -math.inf
    while training_time < TIME_BUDGET:
        t0 = time.perf_counter()
        progress = training_time / TIME_BUDGET
        lrm = lr_multiplier(progress)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * lrm
        x, y = next(loader)
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, VOCAB_SIZE), y.reshape(-1))
        loss.backward()
        if GRAD_CLIP > 0:
            nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)

        loss_value = loss.item()
        if not math.isfinite(loss_value):
            print(f"FAIL: loss is {loss_value} at step {step}; aborting")
            sys.exit(1)
        step += 1
        tokens += x.numel()
        smooth = 0.9 * smooth + 0.1 * loss_value
        training_time = budget_clock() - t_train
        now = time.perf_counter()
        if now - last_print >= print_every or training_time >= TIME_BUDGET:
            last_print = now
            dt = now - t0
            remaining = max(0.0, TIME_BUDGET - training_time)
            print(f"step {step:05d} ({100 * min(1.0, training_time / TIME_BUDGET):.1f}%) | "
                  f"loss: {smooth / (1 - 0.9**step):.6f} | lrm: {lrm:.2f} | dt: {dt * 1000:.0f}ms | "
                  f"tok/sec: {x.numel() / dt:,.0f} | epoch: {tokens // info['train_bytes']} | "
                  f"remaining: {remaining:.0f}s", flush=True)

    val_bpb = evaluate_bpb(model, EVAL_BATCH_SIZE)
    if cuda:
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = info["entropy_floor_bpb"]
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {training_time:.1f}")
    print(f"total_seconds:    {time.perf_counter() - t_start:.1f}")
    print(f"peak_memory_mb:   {peak_mb:.1f}")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {num_params / 1e6:.2f}")
    print(f"total_tokens_M:   {tokens / 1e6:.2f}")
    print(f"tokens_per_sec:   {tokens / max(training_time, 1e-9):.0f}")
    print(f"depth:            {DEPTH}")
    print(f"corpus:           {CORPUS}")
    if floor is not None:
        print(f"entropy_floor_bpb: {floor:.6f}")


if __name__ == "__main__":
    main()
