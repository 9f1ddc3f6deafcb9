"""
Locked data preparation, loading and evaluation for the evo default target.

Candidates edit train.py only; everything that decides the score lives here, so a
candidate cannot change the data, the token count or the way the loss is computed.
Tokenization is one token per byte (VOCAB_SIZE = 256), so bits per byte is simply
the mean cross-entropy in nats divided by ln 2.

Usage: python prepare.py   (prepares or finds the cached data, prints a description,
and writes the manifest record to EVO_RESULT_FD when the harness sets it)
"""

import functools
import hashlib
import json
import math
import os
import sys
import sysconfig
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Locked settings (env with defaults; the harness passes the target's env)
# ---------------------------------------------------------------------------

PREPARE_VERSION = 1                                     # bump when the data format or split changes
VOCAB_SIZE = 256                                        # one token per byte
CORPUS = os.environ.get("EVO_CORPUS", "pystdlib")       # synthetic | pystdlib | path to a text file or folder
SEQ_LEN = int(os.environ.get("EVO_SEQ_LEN", "256"))     # context length of training crops and eval windows
EVAL_TOKENS = int(os.environ.get("EVO_EVAL_TOKENS", "32768"))  # predicted val tokens (rounded down to SEQ_LEN)
DATA_DIR = Path(os.environ.get("EVO_DATA_DIR")                   # prepared data; follows evo's cache
                or Path(os.environ.get("EVO_CACHE_DIR") or "~/.cache/evo") / "data").expanduser()
TIME_BUDGET = float(os.environ.get("EVO_TIME_BUDGET", "300"))   # training seconds on the budget clock
BUDGET_CLOCK = os.environ.get("EVO_BUDGET_CLOCK", "wall")       # wall (perf_counter) or cpu (process_time)
SEED = int(os.environ.get("EVO_SEED", "0"))             # seeds the data order (and train.py's init)

MAX_CORPUS_BYTES = 24 * 2**20   # cap on real-text corpora, so prepare stays fast and memory small
CHUNK_BYTES = 64 * 2**10        # split unit: files are cut into chunks so even one big file splits
VAL_PERCENT = 5                 # share of chunks (by sha1 of name) that go to validation
DOC_SEP = b"\x00"               # appended after each file: an end-of-document byte
N_WINDOWS = EVAL_TOKENS // SEQ_LEN

# Synthetic source: an order-3 Markov chain over 16 letters whose transition rows form a back-off
# tree of Dirichlet draws (each row is drawn around its shorter-context parent), so every order adds
# signal: measured conditional entropies H0..H3 are about 3.11, 2.02, 1.61, 1.40 bits.
SYN_ORDER, SYN_ALPHABET, SYN_ROOT_ALPHA, SYN_CONCENTRATION, SYN_FLOOR_EPS = 3, 16, 1.0, 0.3, 1e-3
SYN_CHAINS, SYN_CHAIN_LEN, SYN_SEED = 4096, 4096, 1234

if BUDGET_CLOCK not in ("wall", "cpu"):
    sys.exit(f"prepare.py: EVO_BUDGET_CLOCK must be 'wall' or 'cpu', got {BUDGET_CLOCK!r}")
if N_WINDOWS < 1:
    sys.exit(f"prepare.py: EVO_EVAL_TOKENS={EVAL_TOKENS} is smaller than EVO_SEQ_LEN={SEQ_LEN}")


def budget_clock() -> float:
    """Seconds on the budget clock: wall time, or CPU time of this process (all threads)."""
    return time.perf_counter() if BUDGET_CLOCK == "wall" else time.process_time()


def _report(record: dict) -> None:
    """Write one JSON line to the harness pipe; a no-op when run by hand."""
    fd = os.environ.get("EVO_RESULT_FD")
    if not fd:
        return
    line = (json.dumps(record) + "\n").encode()
    assert len(line) < 4096, "records must stay below PIPE_BUF so the write is atomic"
    os.write(int(fd), line)


# ---------------------------------------------------------------------------
# Corpora: each returns a list of (name, bytes) documents, plus an entropy floor for synthetic
# ---------------------------------------------------------------------------

def _synthetic_source() -> tuple[np.ndarray, np.ndarray, float]:
    """Transition table (contexts x letters), its stationary context distribution, and entropy rate."""
    rng = np.random.default_rng(SYN_SEED)
    n_ctx = SYN_ALPHABET**SYN_ORDER
    probs = rng.dirichlet(np.full(SYN_ALPHABET, SYN_ROOT_ALPHA))[None]
    for _ in range(SYN_ORDER):  # add one older symbol: row (s0, *parent) ~ Dirichlet around row parent
        g = rng.gamma(SYN_CONCENTRATION * SYN_ALPHABET * np.tile(probs, (SYN_ALPHABET, 1)) + 1e-12)
        probs = g / g.sum(axis=1, keepdims=True)
    probs = (1 - SYN_FLOOR_EPS) * probs + SYN_FLOOR_EPS / SYN_ALPHABET  # every row > 0: chain is ergodic
    # context c = (s1, s2, s3) as an integer; emitting s moves it to (s2, s3, s)
    nxt = (np.arange(n_ctx)[:, None] * SYN_ALPHABET) % n_ctx + np.arange(SYN_ALPHABET)[None, :]
    pi = np.full(n_ctx, 1.0 / n_ctx)
    for _ in range(10_000):  # power iteration; converges geometrically thanks to the eps floor
        new = np.bincount(nxt.ravel(), weights=(pi[:, None] * probs).ravel(), minlength=n_ctx)
        done = np.abs(new - pi).sum() < 1e-14
        pi = new
        if done:
            break
    row_entropy = -(probs * np.log2(probs)).sum(axis=1)
    return probs, pi, float(pi @ row_entropy)


def _synthetic_docs() -> tuple[list[tuple[str, bytes]], float]:
    """Many parallel chains, each started from the stationary distribution, so every chain is a
    stationary sample; they become separate documents (the few cross-chain boundaries in the
    concatenated splits are negligible)."""
    probs, pi, floor = _synthetic_source()
    rng = np.random.default_rng(SYN_SEED + 1)
    cum = np.cumsum(probs, axis=1)
    ctx = rng.choice(len(pi), size=SYN_CHAINS, p=pi)
    out = np.empty((SYN_CHAINS, SYN_CHAIN_LEN), dtype=np.uint8)
    n_ctx = len(pi)
    for t in range(SYN_CHAIN_LEN):
        u = rng.random(SYN_CHAINS)[:, None]
        sym = np.minimum((cum[ctx] < u).sum(axis=1), SYN_ALPHABET - 1)
        out[:, t] = sym
        ctx = (ctx * SYN_ALPHABET) % n_ctx + sym
    out += ord("a")
    return [(f"chain{i:05d}", out[i].tobytes()) for i in range(SYN_CHAINS)], floor


def _text_files(root: Path) -> list[tuple[str, Path]]:
    """Text files under root (or root itself), skipping hidden paths and files with NUL bytes."""
    if root.is_file():
        return [(root.name, root)]
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in rel.split("/")):
            with open(path, "rb") as f:
                if b"\x00" not in f.read(8192):
                    found.append((rel, path))
    return found


def _file_docs(files: list[tuple[str, Path]]) -> list[tuple[str, bytes]]:
    """Files in a fixed pseudo-random order (sha1 of the name), capped at MAX_CORPUS_BYTES,
    each cut into CHUNK_BYTES chunks with DOC_SEP after the file's last chunk."""
    docs, total = [], 0
    for rel, path in sorted(files, key=lambda f: hashlib.sha1(f[0].encode()).hexdigest()):
        data = path.read_bytes() + DOC_SEP
        if total + len(data) > MAX_CORPUS_BYTES and docs:
            continue
        total += len(data)
        docs += [(f"{rel}#{i}", data[i:i + CHUNK_BYTES]) for i in range(0, len(data), CHUNK_BYTES)]
    return docs


def _corpus_docs() -> tuple[list[tuple[str, bytes]], float | None]:
    """The configured corpus as documents, and its entropy floor in bits per byte (None if unknown)."""
    if CORPUS == "synthetic":
        return _synthetic_docs()
    if CORPUS == "pystdlib":
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        files = [(p.relative_to(stdlib).as_posix(), p) for p in sorted(stdlib.rglob("*.py"))
                 if "site-packages" not in p.relative_to(stdlib).parts]
        return _file_docs(files), None
    return _file_docs(_text_files(Path(CORPUS).expanduser())), None


def _cache_dir() -> Path:
    """Folder keyed by corpus, the settings that shape the data, and PREPARE_VERSION."""
    key = [PREPARE_VERSION, CORPUS, MAX_CORPUS_BYTES, CHUNK_BYTES, VAL_PERCENT, SEQ_LEN, EVAL_TOKENS]
    if CORPUS == "synthetic":
        key += [SYN_ORDER, SYN_ALPHABET, SYN_ROOT_ALPHA, SYN_CONCENTRATION, SYN_FLOOR_EPS,
                SYN_CHAINS, SYN_CHAIN_LEN, SYN_SEED]
    elif CORPUS == "pystdlib":
        key.append(sys.version)
    else:
        root = Path(CORPUS).expanduser().resolve()
        key += [str(root)] + [(r, p.stat().st_size, p.stat().st_mtime_ns) for r, p in _text_files(root)]
    digest = hashlib.sha1(json.dumps(key, default=str).encode()).hexdigest()[:12]
    name = CORPUS if CORPUS in ("synthetic", "pystdlib") else Path(CORPUS).name or "corpus"
    return DATA_DIR / f"{name}-{digest}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a unique tmp file and os.replace, so concurrent readers never see a partial file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@functools.cache
def prepare() -> Path:
    """Build (or find) the cached train.bin / val.bin / meta.json and return their folder."""
    if CORPUS not in ("synthetic", "pystdlib") and not Path(CORPUS).expanduser().exists():
        sys.exit(f"prepare.py: EVO_CORPUS={CORPUS!r} is not 'synthetic', 'pystdlib' or an existing path")
    folder = _cache_dir()
    if (folder / "meta.json").exists():
        return folder
    docs, floor = _corpus_docs()
    is_val = [int(hashlib.sha1(n.encode()).hexdigest()[:8], 16) % 100 < VAL_PERCENT for n, _ in docs]
    train = b"".join(d for (_, d), v in zip(docs, is_val, strict=True) if not v)
    val = b"".join(d for (_, d), v in zip(docs, is_val, strict=True) if v)
    need = N_WINDOWS * SEQ_LEN + 1
    if len(val) < need:
        sys.exit(f"prepare.py: corpus {CORPUS!r} too small: its validation split ({VAL_PERCENT}% of "
                 f"{len(docs)} chunks) holds {len(val):,} bytes but needs {need:,} "
                 f"(EVAL_TOKENS+1); use a larger corpus or lower EVO_EVAL_TOKENS")
    if len(train) < 16 * (SEQ_LEN + 1):
        sys.exit(f"prepare.py: corpus {CORPUS!r} too small: train split holds {len(train):,} bytes")
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "train.bin", train)
    _write_atomic(folder / "val.bin", val)
    meta = {"corpus": CORPUS, "entropy_floor_bpb": floor, "train_bytes": len(train),
            "val_bytes": len(val), "documents": len(docs), "prepare_version": PREPARE_VERSION}
    _write_atomic(folder / "meta.json", json.dumps(meta, indent=1).encode())  # last: marks complete
    return folder


def corpus_info() -> dict:
    """The cached meta.json: corpus name, split sizes, entropy_floor_bpb (null for real text)."""
    return json.loads((prepare() / "meta.json").read_text())


def _load(split: str) -> np.ndarray:
    return np.fromfile(prepare() / f"{split}.bin", dtype=np.uint8)


# ---------------------------------------------------------------------------
# Training data loader (train split only)
# ---------------------------------------------------------------------------

def make_dataloader(batch_size: int, device: str | torch.device):
    """Endless (x, y) LongTensor batches of shape (batch_size, SEQ_LEN): random crops of the
    train split, in an order fixed by EVO_SEED."""
    data = _load("train")
    rng = np.random.default_rng(SEED)
    offsets = np.arange(SEQ_LEN + 1)
    pin = torch.device(device).type == "cuda"
    while True:
        starts = rng.integers(0, len(data) - SEQ_LEN - 1, size=batch_size)
        chunk = torch.from_numpy(data[starts[:, None] + offsets].astype(np.int64))
        if pin:
            chunk = chunk.pin_memory().to(device, non_blocking=True)
        yield chunk[:, :-1], chunk[:, 1:]


# ---------------------------------------------------------------------------
# Evaluation (the ground-truth metric)
# ---------------------------------------------------------------------------

def _eval_windows() -> np.ndarray:
    """The fixed validation windows: N_WINDOWS non-overlapping spans of SEQ_LEN+1 bytes, evenly
    spaced over the whole val split so the score samples every part of it."""
    val = _load("val")
    starts = np.linspace(0, len(val) - SEQ_LEN - 1, N_WINDOWS).astype(np.int64)
    return val[starts[:, None] + np.arange(SEQ_LEN + 1)]


def _expect(windows: np.ndarray) -> dict:
    """What an honest evaluation reports: predicted-token count and digest of the exact bytes."""
    return {"tokens": int(windows.shape[0] * SEQ_LEN), "val_digest": hashlib.sha256(windows.tobytes()).hexdigest()}


def _causal_diff(model, x: torch.Tensor, logits: torch.Tensor) -> float:
    """Relative change of the first half's logits when the second half of the input is replaced."""
    half = x.shape[1] // 2
    x2 = x.clone()
    x2[:, half:] = (x2[:, half:] + 1 + torch.arange(x.shape[1] - half, device=x.device)) % VOCAB_SIZE
    a, b = logits[:, :half].float(), model(x2)[:, :half].float()
    return float((a - b).abs().max() / (a.abs().max() + 1e-6))


def evaluate_bpb(model, batch_size: int) -> float:
    """Bits per byte of model on the fixed validation windows; also reports the attested records.
    The model only supplies logits; the cross-entropy is computed here."""
    _report({"kind": "eval_start"})
    windows = _eval_windows()
    expect = _expect(windows)
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    tolerance = 3e-2 if cuda else 1e-3
    tokens_all = torch.from_numpy(windows.astype(np.int64))
    total_nats, counted, max_diff = 0.0, 0, 0.0
    model.eval()
    with torch.no_grad(), autocast:
        for i in range(0, len(tokens_all), batch_size):
            chunk = tokens_all[i:i + batch_size].to(device)
            x, y = chunk[:, :-1], chunk[:, 1:]
            logits = model(x)
            if tuple(logits.shape) != (x.shape[0], SEQ_LEN, VOCAB_SIZE):
                raise ValueError(f"model(idx) must return logits of shape (B, {SEQ_LEN}, {VOCAB_SIZE}), "
                                 f"got {tuple(logits.shape)}")
            if i == 0:  # causality check on the first eval batch, same shape as the eval itself
                max_diff = _causal_diff(model, x, logits)
            loss = F.cross_entropy(logits.float().reshape(-1, VOCAB_SIZE), y.reshape(-1), reduction="sum")
            total_nats += float(loss)
            counted += y.numel()
    bpb = total_nats / counted / math.log(2)
    causal = max_diff <= tolerance
    _report({"kind": "eval", "metric": "val_bpb", "value": bpb, "tokens": counted,
             "val_digest": expect["val_digest"], "causal": causal, "causal_max_diff": max_diff})
    if not causal:
        print(f"WARNING: model is not causal (first-half logits changed by {max_diff:.2e} relative)")
    return bpb


if __name__ == "__main__":
    t0 = time.perf_counter()
    folder = prepare()
    info = corpus_info()
    expect = _expect(_eval_windows())
    floor = info["entropy_floor_bpb"]
    print(f"corpus:            {CORPUS}")
    print(f"data_dir:          {folder}")
    print(f"train_bytes:       {info['train_bytes']:,}")
    print(f"val_bytes:         {info['val_bytes']:,}")
    print(f"eval_tokens:       {expect['tokens']:,} ({N_WINDOWS} windows of {SEQ_LEN})")
    print(f"entropy_floor_bpb: {'n/a (real text)' if floor is None else f'{floor:.6f}'}")
    print(f"prepare_seconds:   {time.perf_counter() - t0:.1f}")
    _report({"kind": "manifest", "expect": expect, "corpus": CORPUS, "entropy_floor_bpb": floor,
             "train_bytes": info["train_bytes"], "val_bytes": info["val_bytes"], "seq_len": SEQ_LEN,
             "prepare_version": PREPARE_VERSION})
