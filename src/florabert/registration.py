"""Make transformers' Auto classes know ``model_type="florabert"`` on ``import florabert``, lazily.

Importing torch/transformers models costs seconds that every CLI command (``promoters``, ...) would pay,
and transformers' own auto modules import torch. So nothing is imported here. Instead:

- a small module is placed at ``transformers.models.florabert``: transformers looks Auto classes up by
  *name* in ``transformers.models.<model_type>``, and this module hands out florabert's classes, importing
  them on first use;
- right after transformers executes its auto modules, an import hook adds ``florabert`` to their
  name tables (plain dict updates, no imports, so no import cycles). If they are already imported, the
  tables are updated at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

_SHIM = "transformers.models.florabert"
_CONFIG_MODULE = "transformers.models.auto.configuration_auto"
_MODELING_MODULE = "transformers.models.auto.modeling_auto"
MODEL_TABLES = {
    "MODEL_MAPPING_NAMES": "FloraBertModel",
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES": "FloraBertForMaskedLM",
    "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES": "FloraBertForExpression",
}


class _LazyClasses(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        from florabert import modeling

        return getattr(modeling, name)


def _add_config(module) -> None:
    module.CONFIG_MAPPING_NAMES["florabert"] = "FloraBertConfig"


def _add_models(module) -> None:
    for table, cls in MODEL_TABLES.items():
        getattr(module, table)["florabert"] = cls
    for value in vars(module).values():  # mappings built before the config was known
        reverse = getattr(value, "_reverse_config_mapping", None)
        if isinstance(reverse, dict):
            reverse["FloraBertConfig"] = "florabert"


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``hooks[name](module)`` right after module ``name`` has been executed."""

    def __init__(self, hooks: dict):
        self.hooks = hooks

    def find_spec(self, name, path, target=None):
        if name not in self.hooks:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        hook, original = self.hooks.pop(name), spec.loader.exec_module

        def exec_module(module):
            original(module)
            hook(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if _SHIM in sys.modules:
        return
    sys.modules[_SHIM] = _LazyClasses(_SHIM, "florabert classes for transformers' Auto lookups")
    hooks = {}
    for name, add in ((_CONFIG_MODULE, _add_config), (_MODELING_MODULE, _add_models)):
        if name in sys.modules:
            add(sys.modules[name])
        else:
            hooks[name] = add
    if hooks:
        sys.meta_path.insert(0, _AfterImport(hooks))
