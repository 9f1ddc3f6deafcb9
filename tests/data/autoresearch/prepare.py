# Test data, never executed: a minimal stand-in for karpathy/autoresearch's locked prepare.py, next to the
# reconstruction of its train.py. Only its text is read, for the constants train.py imports from it (MAX_SEQ_LEN is
# what the batch-size assert needs); the functions are stubs with the real signatures.
"""
One-time data preparation for autoresearch, and the fixed evaluation. Do not modify.
"""

# ---------------------------------------------------------------------------
# Constants (fixed, do not modify)
# ---------------------------------------------------------------------------

MAX_SEQ_LEN = 2048  # context length
TIME_BUDGET = 300  # training time budget in seconds (5 minutes)
EVAL_TOKENS = 40 * 524288  # number of tokens for val eval


class Tokenizer:
    """The BPE tokenizer trained by this script."""

    @classmethod
    def from_directory(cls):
        raise NotImplementedError

    def get_vocab_size(self):
        raise NotImplementedError


def make_dataloader(tokenizer, B, T, split):
    """Batches of (inputs, targets, epoch) with B rows of T tokens from the train or val split."""
    raise NotImplementedError


def evaluate_bpb(model, tokenizer, batch_size):
    """Bits per byte of `model` on EVAL_TOKENS tokens of the validation split: the metric."""
    raise NotImplementedError
