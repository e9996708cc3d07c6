"""LightGBM regression trees read from LightGBM's own text model format and evaluated with NumPy.

A fine-tuned model that blends in trees (:class:`florabert.features.WideTrees`) needs only their predictions at
inference; importing lightgbm for that pulls in scikit-learn and pandas (about 1 s of every ``predict`` and
``explain`` start-up on the 2-core machine). This reader covers what florabert trains — a plain regression
objective, numerical splits with LightGBM's missing-value rules, no linear trees — and returns the same numbers
as ``lightgbm.Booster.predict`` (tests/test_features.py compares them); a file with anything else (categorical
splits, another objective) is left to lightgbm by :func:`load_booster`. A truncated or malformed file is an
error here (lightgbm aborts the whole process on one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| at or below it counts as zero for missing type "Zero"


class UnsupportedModel(ValueError):
    """The file is a LightGBM model this reader does not evaluate (lightgbm does)."""


class TextTrees:
    """The trees of one LightGBM text model file. ``predict(x)`` takes every split's decision for every row at
    once, then finds each tree's leaf as the one whose path's decisions all hold: per tree a (splits x leaves)
    matrix of +1 (the path goes left), -1 (right) and 0, so that one batched matrix product counts the decisions
    each leaf's path gets right."""

    def __init__(self, path: str | Path):
        text = Path(path).read_text()
        header, _, rest = text.partition("\nTree=")
        if not rest:
            raise ValueError("not a LightGBM text model (no trees)")
        head = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
        if head.get("objective") != "regression" or head.get("num_class", "1") != "1":
            raise UnsupportedModel(f"{path}: objective {head.get('objective')!r} (only regression is read here)")
        if "\nend of trees" not in rest:
            raise ValueError("truncated: no 'end of trees'")
        blocks = ("Tree=" + rest.split("\nend of trees")[0]).split("\nTree=")
        listed = len(head.get("tree_sizes", "").split())
        if len(blocks) != listed:
            raise ValueError(f"{len(blocks)} trees where its header lists {listed}")
        self.n_features = int(head["max_feature_idx"]) + 1
        trees = [dict(line.split("=", 1) for line in b.splitlines() if "=" in line) for b in blocks]
        if any(int(t.get("num_cat", 0)) or int(t.get("is_linear", 0)) for t in trees):
            raise UnsupportedModel(f"{path}: categorical splits or linear trees")
        n_leaves = [int(t["num_leaves"]) for t in trees]
        T, L = len(trees), max(n_leaves)
        D = max(L - 1, 1)
        self.feature = np.zeros((T, D), dtype=np.int64)  # padding splits: feature 0, never on a path
        self.threshold = np.zeros((T, D))
        decision = np.zeros((T, D), dtype=np.int64)
        paths = np.zeros((T, D, L), dtype=np.float32)
        self.length = np.full((T, L), -1.0, dtype=np.float32)  # padding leaves: no row reaches them
        self.leaf_value = np.zeros((T, L))
        for t, (tree, n) in enumerate(zip(trees, n_leaves, strict=True)):
            self.leaf_value[t, :n] = np.array(tree["leaf_value"].split(), dtype=np.float64)
            if n == 1:  # a single leaf: the tree is a constant
                self.length[t, 0] = 0
                continue
            self.feature[t, :n - 1] = np.array(tree["split_feature"].split(), dtype=np.int64)
            self.threshold[t, :n - 1] = np.array(tree["threshold"].split(), dtype=np.float64)
            decision[t, :n - 1] = np.array(tree["decision_type"].split(), dtype=np.int64)
            children = [np.array(tree[k].split(), dtype=np.int64) for k in ("left_child", "right_child")]
            stack = [(0, [])]  # (node, [(split, +1 left | -1 right) on the way to it])
            while stack:
                node, way = stack.pop()
                for side, child in ((1.0, children[0][node]), (-1.0, children[1][node])):
                    if child >= 0:
                        stack.append((int(child), [*way, (node, side)]))
                        continue
                    leaf = -int(child) - 1  # a leaf is ~child
                    for split, sign in [*way, (node, side)]:
                        paths[t, split, leaf] = sign
                    self.length[t, leaf] = len(way) + 1
        self.default_left = (decision & 2) > 0
        self.missing = (decision >> 2) & 3  # 0: none (NaN read as 0), 1: zero, 2: NaN
        # a leaf's count of right decisions = sum(paths * left) + (its right turns): left = 0 there counts too
        self.rights = (paths < 0).sum(1).astype(np.float32)
        self.paths_t = np.ascontiguousarray(paths.transpose(0, 2, 1))  # (trees, leaves, splits)

    def num_trees(self) -> int:
        return len(self.leaf_value)

    def predict(self, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """(rows,) the sum of the trees' leaves (``lightgbm.Booster.predict`` of a regression model)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"the trees read {self.n_features} features; got an array of shape {x.shape}")
        return np.concatenate([self._predict(x[i:i + chunk]) for i in range(0, len(x), chunk)] or [np.zeros(0)])

    def _predict(self, x: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(x.T)[self.feature]  # (trees, splits, rows): rows of x.T gather fast
        left = v <= self.threshold[..., None]
        nan = np.isnan(v)
        if nan.any() or (self.missing == 1).any():  # LightGBM's rules for missing values
            miss = self.missing[..., None]
            v = np.where(nan & (miss != 2), 0.0, v)
            default = ((miss == 1) & (np.abs(v) <= _ZERO)) | ((miss == 2) & nan)
            left = np.where(default, self.default_left[..., None], v <= self.threshold[..., None])
        # per tree and leaf, how many of its path's decisions hold: all of them for the one leaf each row reaches
        held = np.matmul(self.paths_t, left.astype(np.float32)) + self.rights[..., None]  # (trees, leaves, rows)
        return np.einsum("tl,tln->n", self.leaf_value, (held == self.length[..., None]).astype(np.float64))


def load_booster(path: str | Path):
    """The trees in ``path``: a :class:`TextTrees` where this reader covers the model, else a
    ``lightgbm.Booster``. A missing, truncated or malformed file raises OSError or ValueError (lightgbm itself
    aborts the process on a truncated file: "terminate called without an active exception")."""
    try:
        return TextTrees(path)
    except UnsupportedModel:
        import lightgbm

        return lightgbm.Booster(model_file=str(path))
    except (KeyError, IndexError) as exc:
        raise ValueError(f"malformed LightGBM text model ({type(exc).__name__}: {exc})") from None
