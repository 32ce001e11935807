"""Recipes: named, versioned training configurations that reach the best results mlplab knows for each
dataset, found by a search on a validation part of the training data (see docs/recipes.md).

Each recipe is a TOML file in this folder::

    [recipe]            name, version, description, reference (the published result it is compared with)
    [train]             the training configuration (the keys of ``mlplab train`` / TrainConfig)
    [search]            how it was found: space file, sampler, seed, trials, best validation score
    [measured]          test accuracy mean and std over seeds, seconds per seed, machine

``mlplab train --recipe NAME`` trains it; ``mlplab train --list-recipes`` lists them.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

__all__ = ["Recipe", "list_recipes", "load_recipe", "recipe_names"]

_REQUIRED = {"recipe": ("name", "version", "description"), "train": ("dataset",)}


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    description: str
    train: dict
    reference: str = ""
    search: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line for ``--list-recipes``: name, dataset, measured accuracy and time."""
        m = self.measured
        if m.get("accuracy_mean") is not None:
            acc = f"test {m['accuracy_mean']:.4f} ± {m.get('accuracy_std', 0):.4f} ({m.get('seeds', '?')} seeds)"
            acc += f", {m['seconds']:.0f} s per seed" if m.get("seconds") is not None else ""
        else:
            acc = m.get("note", "not measured")
        return f"{self.name:<18} v{self.version}  {self.train['dataset']:<14} {acc}"


def recipe_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".toml") and not p.name.endswith(".space.toml"))


def load_recipe(name: str) -> Recipe:
    """The recipe ``name`` (see :func:`recipe_names`); a ValueError lists the known ones."""
    names = recipe_names()
    if name not in names:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(names)} "
                         "(see 'mlplab train --list-recipes')")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    for table, keys in _REQUIRED.items():
        missing = [k for k in keys if k not in doc.get(table, {})]
        if missing:
            raise ValueError(f"recipe {name!r} lacks {table}.{', '.join(missing)}")
    meta = doc["recipe"]
    return Recipe(name=meta["name"], version=int(meta["version"]), description=meta["description"],
                  reference=meta.get("reference", ""), train=dict(doc["train"]), search=dict(doc.get("search", {})),
                  measured=dict(doc.get("measured", {})))


def list_recipes() -> list[Recipe]:
    return [load_recipe(n) for n in recipe_names()]
