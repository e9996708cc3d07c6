"""Real data and a ready model shipped with florabert (see README.md here for provenance).

Bundled models live in ``models/NAME/`` (a fine-tuned model folder each, with its model card); every command's
``--model`` takes a folder or one of these names (:func:`resolve_model`)."""

from importlib import resources
from pathlib import Path

from florabert.errors import FloraBertError


def path(name: str) -> Path:
    """Path of a bundled file: ``arabidopsis_leaf_tpm_train.tsv``, ``arabidopsis_chr1_families.tsv``,
    ``jaspar_plant_clusters.tsv``."""
    return Path(str(resources.files("florabert.bundled") / name))


def models() -> dict[str, Path]:
    """The models bundled with the package, by name (``arabidopsis-leaf``)."""
    root = path("models")
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir()) if (d / "config.json").exists()}


def resolve_model(model: str | Path) -> Path:
    """``model`` as a folder: itself when it exists, else the bundled model of that name."""
    given = Path(model)
    if given.exists():
        return given
    found = models().get(str(model))
    if found is not None:
        return found
    known = ", ".join(models()) or "none"
    raise FloraBertError(f"{model}: no such model folder, and not a bundled model (bundled: {known}; "
                         "florabert models lists them)")


__all__ = ["models", "path", "resolve_model"]
