# ruff: noqa: E501  (the replica keeps autoresearch's long progress line as it is)
"""A faithful replica of a karpathy/autoresearch checkout, made by the tests: its layout and output, on CPU in seconds.

What matters to evo is kept exactly: `TIME_BUDGET = 300` and `MAX_SEQ_LEN` live in the locked `prepare.py`, which
also holds `evaluate_bpb`; `train.py` imports them (`from prepare import ...`), seeds itself with
`torch.manual_seed(42)`, keeps its knobs as commented UPPERCASE constants (`TOTAL_BATCH_SIZE = 2**k`,
`WINDOW_PATTERN = "SSSL"`, the printout-only `H100_BF16_PEAK_FLOPS`), asserts the batch divides, excludes its first
steps from the training time, prints the `\\r` progress line and ends with the `---` summary block. The model is a
tiny causal transformer on a synthetic token stream, so a candidate trains for a couple of seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

PREPARE = '''"""
One-time data preparation and runtime utilities (replica of autoresearch's prepare.py layout, for evo's tests).
Do not modify.
"""

import math

import torch
import torch.nn.functional as F

MAX_SEQ_LEN = 64        # context length
TIME_BUDGET = 300       # training time budget in seconds (5 minutes)
EVAL_TOKENS = 16 * 64   # number of tokens for val eval
VOCAB_SIZE = 32


class Tokenizer:
    """One token per symbol of the synthetic stream."""

    @classmethod
    def from_directory(cls):
        return cls()

    def get_vocab_size(self):
        return VOCAB_SIZE


def _stream(split, n):
    """A fixed, learnable token stream: mostly x -> (3x + 1) mod V, sometimes a random jump."""
    g = torch.Generator().manual_seed(1 if split == "train" else 2)
    jumps = (torch.rand(n, generator=g) < 0.2).tolist()
    draws = torch.randint(VOCAB_SIZE, (n,), generator=g).tolist()
    out, x = [], 0
    for jump, draw in zip(jumps, draws):
        x = draw if jump else (3 * x + 1) % VOCAB_SIZE
        out.append(x)
    return torch.tensor(out)


_TRAIN = _stream("train", 20000)
_VAL = _stream("val", EVAL_TOKENS + 1)


def make_dataloader(tokenizer, B, T, split):
    data = _TRAIN if split == "train" else _VAL
    epoch = 1
    while True:
        starts = torch.randint(len(data) - T - 1, (B,))
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        yield x, y, epoch


@torch.no_grad()
def evaluate_bpb(model, tokenizer, batch_size):
    """Bits per token on the fixed validation stream (one token stands for one byte here)."""
    model.eval()
    rows = EVAL_TOKENS // MAX_SEQ_LEN
    x = _VAL[:rows * MAX_SEQ_LEN].view(rows, MAX_SEQ_LEN)
    y = _VAL[1:rows * MAX_SEQ_LEN + 1].view(rows, MAX_SEQ_LEN)
    total = 0.0
    for i in range(0, rows, batch_size):
        logits = model(x[i:i + batch_size])
        total += float(F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y[i:i + batch_size].reshape(-1), reduction="sum"))
    return total / (rows * MAX_SEQ_LEN) / math.log(2)
'''

TRAIN = '''"""
Autoresearch pretraining script (replica for evo's tests). Single-device, single-file.
Usage: uv run train.py
"""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import MAX_SEQ_LEN, TIME_BUDGET, Tokenizer, make_dataloader, evaluate_bpb


class Block(nn.Module):
    def __init__(self, dim, n_head, window):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, n_head, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.window = window

    def forward(self, x):
        T = x.shape[1]
        i = torch.arange(T)
        mask = (i[None, :] > i[:, None]) | (i[:, None] - i[None, :] >= self.window)
        h = self.n1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, depth, dim, n_head, window_pattern):
        super().__init__()
        pattern = window_pattern.upper()
        assert all(c in "SL" for c in pattern)
        windows = [MAX_SEQ_LEN if pattern[i % len(pattern)] == "L" else MAX_SEQ_LEN // 2 for i in range(depth)]
        windows[-1] = MAX_SEQ_LEN
        self.wte = nn.Embedding(vocab_size, dim)
        self.wpe = nn.Embedding(MAX_SEQ_LEN, dim)
        self.blocks = nn.ModuleList(Block(dim, n_head, w) for w in windows)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, idx, targets=None):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.head(x)
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ---------------------------------------------------------------------------
# Hyperparameters (edit these directly, no CLI flags needed)
# ---------------------------------------------------------------------------

# Model architecture
ASPECT_RATIO = 16       # model_dim = depth * ASPECT_RATIO
HEAD_DIM = 16           # target head dimension for attention
WINDOW_PATTERN = "SSSL" # sliding window pattern: L=full, S=half context

# Optimization
TOTAL_BATCH_SIZE = 2**9 # ~0.5K tokens per optimizer step
LEARNING_RATE = 0.003   # AdamW learning rate
WEIGHT_DECAY = 0.0      # AdamW weight decay

# Model size
DEPTH = 2               # number of transformer layers
DEVICE_BATCH_SIZE = 8   # per-device batch size (reduce if OOM)

t_start = time.time()
torch.manual_seed(42)
H100_BF16_PEAK_FLOPS = 989.5e12

tokenizer = Tokenizer.from_directory()
vocab_size = tokenizer.get_vocab_size()
model_dim = DEPTH * ASPECT_RATIO
model = GPT(vocab_size, DEPTH, model_dim, max(1, model_dim // HEAD_DIM), WINDOW_PATTERN)
num_params = sum(p.numel() for p in model.parameters())
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

tokens_per_fwdbwd = DEVICE_BATCH_SIZE * MAX_SEQ_LEN
assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0
grad_accum_steps = TOTAL_BATCH_SIZE // tokens_per_fwdbwd
num_flops_per_token = 6 * num_params
train_loader = make_dataloader(tokenizer, DEVICE_BATCH_SIZE, MAX_SEQ_LEN, "train")

print(f"Time budget: {TIME_BUDGET}s")
print(f"Gradient accumulation steps: {grad_accum_steps}")

total_training_time = 0
step = 0
smooth_train_loss = 0.0
while True:
    t0 = time.time()
    for micro_step in range(grad_accum_steps):
        x, y, epoch = next(train_loader)
        loss = model(x, y)
        (loss / grad_accum_steps).backward()
    optimizer.step()
    model.zero_grad(set_to_none=True)
    dt = time.time() - t0
    if step > 2:
        total_training_time += dt
    smooth_train_loss = 0.9 * smooth_train_loss + 0.1 * loss.item()
    debiased_smooth_loss = smooth_train_loss / (1 - 0.9 ** (step + 1))
    pct_done = 100 * total_training_time / TIME_BUDGET
    tok_per_sec = int(TOTAL_BATCH_SIZE / dt)
    mfu = 100 * num_flops_per_token * TOTAL_BATCH_SIZE / dt / H100_BF16_PEAK_FLOPS
    remaining = max(0, TIME_BUDGET - total_training_time)
    print(f"\\rstep {step:05d} ({pct_done:.1f}%) | loss: {debiased_smooth_loss:.6f} | lrm: 1.00 | dt: {dt*1000:.0f}ms | tok/sec: {tok_per_sec:,} | mfu: {mfu:.1f}% | epoch: {epoch} | remaining: {remaining:.0f}s    ", end="", flush=True)
    step += 1
    if step > 2 and total_training_time >= TIME_BUDGET:
        break

print()
model.eval()
val_bpb = evaluate_bpb(model, tokenizer, DEVICE_BATCH_SIZE)

t_end = time.time()
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {total_training_time:.1f}")
print(f"total_seconds:    {t_end - t_start:.1f}")
print(f"peak_vram_mb:     {0.0:.1f}")
print(f"mfu_percent:      {mfu:.2f}")
print(f"total_tokens_M:   {step * TOTAL_BATCH_SIZE / 1e6:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_M:     {num_params / 1e6:.1f}")
print(f"depth:            {DEPTH}")
'''

PROGRAM = """# autoresearch

This is an experiment to have the LLM do its own research.

## Setup

1. Agree on a run tag and create a branch: `git checkout -b autoresearch/<tag>`.
2. Run `uv run prepare.py` once to download the data.

## Experimentation

Each experiment runs on a single GPU for a fixed time budget of 5 minutes. You may change anything in `train.py`:
the architecture, the optimizer, the hyperparameters, the batch size, the model size. Do not change `prepare.py`.

The goal is simple: get the lowest val_bpb. Simpler is better when the gain is equal.

## The experiment loop

LOOP FOREVER: commit, run `uv run train.py > run.log 2>&1`, read the result, log it to results.tsv, and keep the
commit if val_bpb improved or `git reset` it if not. NEVER STOP.
"""


def make_autoresearch(root: Path) -> Path:
    """Write the replica checkout at `root` (no target.yaml: as a user clones it) and return `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN)
    (root / "program.md").write_text(PROGRAM)
    (root / "pyproject.toml").write_text('[project]\nname = "autoresearch"\nversion = "0.1.0"\n')
    return root
