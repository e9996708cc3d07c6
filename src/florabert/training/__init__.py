"""Training runs: masked-LM pre-training and fine-tuning on HF Trainer (importing a module imports torch).

- :mod:`~florabert.training.pretrain`: ``pretrain`` (stage 1 / stage 2); :mod:`~florabert.training.mlm_data`:
  its data; :mod:`~florabert.training.masking`: BERT / span / RandomMask collators.
- :mod:`~florabert.training.finetune`: ``finetune`` (expression or classes per gene).
- :mod:`~florabert.training.trackdata`: EBERT examples with epigenetic tracks.
- :mod:`~florabert.training.runs`: optimizer, precision, run folders, ranks; :mod:`~florabert.training.callbacks`:
  CSV log and loss curve; :mod:`~florabert.training.mlm_eval`: held-out MLM loss against a unigram model.
"""

__all__ = ["callbacks", "finetune", "masking", "mlm_data", "mlm_eval", "pretrain", "runs", "trackdata"]
