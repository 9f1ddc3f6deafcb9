"""Surrogate training script: the constants below are the search space; prepare.py (locked) simulates the run.

Same shape as an autoresearch train.py (commented knobs, progress lines, `---` summary) but a run takes ~1 s.
"""

import math
import sys
import time

from prepare import SEQ_LEN, simulate

# ---- knobs ---------------------------------------------------------------------------------------------------------
LEARNING_RATE = 1e-3  # peak learning rate (AdamW)
BATCH_SIZE = 32  # sequences per step (power of two)
DEPTH = 4  # transformer layers [1, 24]
WIDTH = 256  # model dimension (power of two)
WARMUP_FRAC = 0.0  # fraction of the budget spent warming the learning rate up
WARMDOWN_FRAC = 0.3  # fraction of the budget at the end decaying the learning rate to zero
WEIGHT_DECAY = 0.0  # decoupled weight decay
OPTIMIZER = "adamw"  # one of: adamw, muon, sgd
# ---------------------------------------------------------------------------------------------------------------------


def main() -> None:
    """Run the simulated training and print progress and summary in the evo/autoresearch format."""
    t0 = time.perf_counter()
    constants = {name: value for name, value in globals().items() if name.isupper()}
    run = simulate(constants)
    tokens_per_step = BATCH_SIZE * SEQ_LEN
    num_steps = max(1, round(run.budget * run.tokens_per_sec / tokens_per_step))
    dt_ms = 1000 * tokens_per_step / run.tokens_per_sec
    for fraction, loss in run.progress():
        step = round(fraction * num_steps)
        remaining = run.budget * (1 - fraction)
        print(
            f"step {step:05d} ({100 * fraction:.1f}%) | loss: {loss:.6f} | lrm: {run.lr_multiplier(fraction):.2f} | "
            f"dt: {dt_ms:.0f}ms | tok/sec: {run.tokens_per_sec:,.0f} | epoch: 0 | remaining: {remaining:.0f}s",
            flush=True,
        )
        if math.isnan(loss):
            print(f"FAIL: loss is NaN at step {step}: training diverged (LEARNING_RATE={LEARNING_RATE} too high?)")
            sys.exit(1)
    weights_mb = 16 * run.num_params / 2**20  # fp32 weights, grads and two optimizer moments
    activations_mb = 34 * BATCH_SIZE * SEQ_LEN * WIDTH * DEPTH / 2**20
    print("---")
    print(f"val_bpb:          {run.val_bpb:.6f}")
    print(f"training_seconds: {run.budget:.1f}")
    print(f"total_seconds:    {time.perf_counter() - t0:.1f}")
    print(f"peak_memory_mb:   {weights_mb + activations_mb:.1f}")
    print(f"num_steps:        {num_steps}")
    print(f"num_params_M:     {run.num_params / 1e6:.1f}")
    print(f"total_tokens_M:   {num_steps * tokens_per_step / 1e6:.1f}")
    print(f"depth:            {DEPTH}")


if __name__ == "__main__":
    main()
