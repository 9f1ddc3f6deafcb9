"""Ideas landscape training script: each constant below is a research idea; prepare.py (locked) simulates the run.

Same shape as an autoresearch train.py (commented knobs, progress lines, `---` summary), but a run takes ~1 s.
The search turns ideas on and off and picks among choices; which ones help, alone or together, is for it to find.
"""

import math
import sys
import time

from prepare import simulate

# ---- ideas: architecture -------------------------------------------------------------------------------------------
USE_RMSNORM = False  # RMSNorm instead of LayerNorm in every block
USE_QK_NORM = False  # normalise queries and keys before attention
USE_ROPE = False  # rotary position embeddings instead of learned positions
USE_VALUE_EMBEDS = False  # value embeddings added in alternate layers (more memory)
USE_SWIGLU = False  # SwiGLU MLP instead of GELU (a little slower per step)
USE_RELU_SQUARED = False  # ReLU^2 activation in the MLP
USE_SOFTCAP = False  # tanh soft-capping of the output logits
USE_ZERO_INIT_PROJ = False  # zero-initialise every block's output projection
USE_UNTIED_HEAD = False  # a separate output head instead of the tied embedding
USE_SKIP_CONNECTIONS = False  # U-net style skips from early to late layers
USE_SMEAR = False  # blend each token's embedding with the previous token's
USE_PARALLEL_BLOCKS = False  # attention and MLP in parallel in each block (faster, slightly weaker)
USE_MTP = False  # an extra multi-token-prediction head (slower, more memory)
DEPTH_WIDTH = "4x256"  # layers x width; one of: 3x320, 4x256, 6x192, 8x160
INIT_SCALE = "default"  # initialisation scale; one of: default, small, mup
WINDOW_PATTERN = "LLLL"  # attention window per layer (L long, S short); one of: LLLL, SSSL, SSLL, SLSL
# ---- ideas: optimisation -------------------------------------------------------------------------------------------
USE_MUON = False  # Muon for the 2D matrices, AdamW for the rest
USE_NESTEROV = False  # Nesterov momentum in Muon (used only when USE_MUON == True)
LR_SCHEDULE = "constant"  # learning-rate schedule; one of: constant, cosine, linear, wsd
USE_GRAD_CLIP = False  # clip the global gradient norm at 1
USE_EMA = False  # evaluate an exponential moving average of the weights
USE_BATCH_RAMP = False  # ramp the batch size up over the first third of training
USE_SEQ_LEN_WARMUP = False  # start with short sequences, grow them to full length
USE_DROPOUT = False  # dropout 0.1 in every block
USE_LABEL_SMOOTHING = False  # label smoothing 0.1 on the targets
USE_WEIGHT_DECAY = False  # decoupled weight decay 0.1 on the matrices
# ---- ideas: systems ------------------------------------------------------------------------------------------------
USE_BF16 = False  # bf16 autocast: faster steps, less memory
USE_FLASH_ATTN = False  # a fused attention kernel: faster steps
USE_COMPILE = False  # torch.compile the model: faster steps after a compile at start
USE_SLIDING_WINDOW = False  # the short windows of WINDOW_PATTERN run as sliding-window kernels (faster)
# ----------------------------------------------------------------------------------------------------------------------


def main() -> None:
    """Run the simulated training and print progress and summary in the evo/autoresearch format."""
    t0 = time.perf_counter()
    ideas = {name: value for name, value in globals().items() if name.isupper()}
    run = simulate(ideas)
    for fraction, loss in run.progress():
        remaining = run.budget * (1 - fraction)
        print(
            f"step {round(fraction * run.steps):05d} ({100 * fraction:.1f}%) | loss: {loss:.6f} | "
            f"dt: {1000 * run.budget / run.steps:.0f}ms | remaining: {remaining:.0f}s",
            flush=True,
        )
    if run.failure:
        print(f"FAIL: {run.failure}")
        sys.exit(1)
    if math.isnan(run.val_bpb):
        sys.exit(1)
    print("---")
    print(f"val_bpb:          {run.val_bpb:.6f}")
    print(f"training_seconds: {run.budget:.1f}")
    print(f"total_seconds:    {time.perf_counter() - t0:.1f}")
    print(f"peak_memory_mb:   {run.memory_mb:.1f}")
    print(f"num_steps:        {run.steps}")


if __name__ == "__main__":
    main()
