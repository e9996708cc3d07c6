"""Pieces shared by the pre-training and fine-tuning runs: optimizer, precision, run files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

from florabert.plotting import show_bars


def build_optimizer(model, *, name: str, lr: float, betas: tuple[float, float], eps: float,
                    weight_decay: float, param_groups: list[dict] | None = None):
    """LAMB (pytorch-optimizer; FloraBERT's choice) or AdamW; no weight decay on biases and LayerNorms."""
    if param_groups is None:
        decay, no_decay = [], []
        for n, p in model.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in n or "layer_norm" in n else decay).append(p)
        param_groups = [{"params": decay, "weight_decay": weight_decay},
                        {"params": no_decay, "weight_decay": 0.0}]
    if name == "lamb":
        from pytorch_optimizer import Lamb

        return Lamb(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    from florabert.errors import FloraBertError

    raise FloraBertError(f"optimizer must be lamb or adamw, not {name!r}")


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 matmuls run about
    2.5x faster than fp32 (benchmarks/bench_pretrain.py measures both)."""
    try:
        from pathlib import Path

        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def use_bf16(setting: str, cpu: bool = True) -> bool:
    """'auto': bf16 autocast on CUDA devices that support it, and (with ``cpu``) on CPUs with native bf16; 'on';
    'off'. Fine-tuning passes ``cpu=False``: on a CPU with AVX512-BF16 its regression head lost half its test R²
    in bf16 (0.166 vs 0.294, same seed) and ran 1.9x slower (docs/accuracy.md)."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu and cpu_has_native_bf16()


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def weights_digest(model) -> str:
    """SHA-256 over all parameters (in name order), to compare ranks or runs bit for bit."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def environment() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.is_available(), "world_size": world_size()}


def write_json(path: Path, obj) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    tmp.replace(path)


def reporters() -> list[str]:
    """Trainer ``report_to``: TensorBoard when installed (a dependency), else nothing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return []
    return ["tensorboard"]


@contextlib.contextmanager
def tensorboard_dir(path: Path):
    """transformers 5 takes the TensorBoard directory from the environment only (read when the Trainer
    is built): set it for this run, then restore it."""
    previous = os.environ.get("TENSORBOARD_LOGGING_DIR")
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = previous


def quiet_trainer(trainer) -> None:
    """Without progress bars, HF's Trainer prints every log dict to stdout instead; ``logs/log.csv`` (the
    CSVLogger) keeps them, so drop that printer, and the weight-saving bars with it."""
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    if not show_bars():
        trainer.remove_callback(PrinterCallback)
        hf_logging.disable_progress_bar()


@contextlib.contextmanager
def training_run(out: Path, command: str, *, resume: bool, force: bool, log=print
                 ) -> Iterator[tuple[Path, str, str | None]]:
    """A training run whose result goes to ``out``: yields ``(work, mode, checkpoint)``: the folder it trains
    in (``.NAME.partial`` beside ``out``, see :func:`florabert.outputs.run_dir`), how it moves to ``out`` at
    the end (:func:`florabert.outputs.finish_run`), and the checkpoint to resume from (None: step 0). A run
    that fails before its first checkpoint leaves nothing behind; one with checkpoints keeps them for
    ``--resume``. Only rank 0 prepares the folder; the other ranks of a distributed run write into it."""
    from florabert.outputs import claim_dir, release_lock

    if rank() != 0:
        yield out.parent / f".{out.name}.partial", claim_dir(out, command, force=force, lock=False), None
        return
    try:
        yield from _run_in(out, command, resume=resume, force=force, log=log)
    finally:
        release_lock(out)


def _run_in(out: Path, command: str, *, resume: bool, force: bool, log) -> Iterator[tuple[Path, str, str | None]]:
    from florabert.outputs import run_dir

    work, mode = run_dir(out, command, resume=resume, force=force)
    checkpoint = last_complete_checkpoint(work / "checkpoints") if resume else None
    if resume:
        log(f"resuming from {checkpoint}" if checkpoint else f"{work}: no complete checkpoint yet; starting from "
            "step 0")
    try:
        yield work, mode, checkpoint
    except BaseException:
        if work.exists() and last_complete_checkpoint(work / "checkpoints") is None:
            shutil.rmtree(work, ignore_errors=True)
        elif work.exists():
            log(f"the run stopped; its checkpoints are in {work}: rerun with --resume to continue it")
        raise


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` holding everything a resume needs (a run killed while saving leaves
    an incomplete one behind, which must not be picked)."""
    if not Path(ckpt_dir).is_dir():
        return None
    needed = ("trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt")
    done = [p for p in Path(ckpt_dir).glob("checkpoint-*")
            if p.name.split("-")[-1].isdigit() and all((p / f).exists() for f in needed)]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def resumable_trainer():
    """transformers' Trainer whose length-grouped batches come from a generator seeded by
    the run's seed and the epoch. transformers' LengthGroupedSampler draws its permutation from torch's global
    generator when an epoch's batches are first asked for; a run resumed in the middle of an epoch draws it
    from a freshly seeded generator instead (the checkpoint's generator state is restored only after the
    skipped batches), so it trained on other batches than the uninterrupted run from the checkpoint on."""
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class EpochSeededSampler(LengthGroupedSampler):
        def __init__(self, batch_size: int, lengths: list[int], seed: int):
            super().__init__(batch_size, lengths=lengths)
            self.seed = seed
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:  # accelerate calls it before each epoch's batches
            self.generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)

    class ResumableTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            if type(sampler) is LengthGroupedSampler:
                return EpochSeededSampler(sampler.batch_size, sampler.lengths, self.args.data_seed or 0)
            return sampler

    return ResumableTrainer


def train_or_restore(trainer, checkpoint: str | None) -> None:
    """``trainer.train(resume_from_checkpoint=checkpoint)``, except that a checkpoint saved after training
    had stopped (max_steps reached, early stopping) is restored, not trained further: transformers resumes
    such a run in the middle of its last epoch and takes one more step before it checks whether to stop."""
    if checkpoint:
        from transformers.trainer_callback import TrainerState

        state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        control = (state.stateful_callbacks or {}).get("TrainerControl", {}).get("args", {})
        if control.get("should_training_stop") or state.global_step >= trainer.args.max_steps:
            trainer._load_from_checkpoint(checkpoint)
            trainer.state = state
            if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
                trainer._load_best_model()
            return
    trainer.train(resume_from_checkpoint=checkpoint)
