"""How many tokens a prompt takes and how many its answer may use: a conservative count with no tokenizer.

The tokenizer of the endpoint's model is unknown (and a real one downloads its vocabulary at run time), so evo
estimates: one token per digit, `ceil(bytes / 3)` for the rest, and a line's indentation counted as one byte. BPE
tokenizers (cl100k and o200k, and Llama 3's and Qwen's, built the same way) spend one token on a run of spaces, one on
about 3.5-4.5 bytes of Python or English, and one on each group of up to three digits (Qwen's: on each digit).
Measured with cl100k and o200k on 164 files (evo's Python and Markdown, autoresearch's train.py and program.md,
openai's list of model names), the estimate is 1.02-1.77 times their count, median 1.24, and 1.18 on autoresearch's
train.py: a prompt it says fits does fit, at the price of leaving out some of a file that would have fitted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from evo.config import LLMSection

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message (role markers, separators)
WHOLE_FILE_GROWTH = 1.1  # a rewritten file may be 10% longer than its parent
WHOLE_FILE_MARGIN = 256  # tokens for the DESCRIPTION and RATIONALE lines and the fence around a whole file

_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
_DIGIT = re.compile(r"[0-9]")


def estimate_tokens(text: str) -> int:
    """At least as many tokens as a BPE tokenizer gives `text` (the module docstring says how sure that is)."""
    text = _INDENT.sub(" ", text)
    digits = len(_DIGIT.findall(text))
    return math.ceil((len(text.encode()) - digits) / BYTES_PER_TOKEN) + digits


def messages_tokens(messages: Sequence[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)


def whole_file_tokens(text: str) -> int:
    """The answer budget for a complete new version of `text`: sized to the file, since the answer repeats it."""
    return math.ceil(estimate_tokens(text) * WHOLE_FILE_GROWTH) + WHOLE_FILE_MARGIN


def answer_room(messages: Sequence[dict[str, str]], settings: LLMSection, cap: int | None = None) -> int:
    """Tokens an answer to `messages` may use: what llm.context_tokens leaves, at most `cap` (llm.max_tokens)."""
    left = settings.context_tokens - messages_tokens(messages)
    return min(settings.max_tokens if cap is None else cap, left)
