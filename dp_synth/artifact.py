"""Model files: one safetensors file holding the weights and a JSON document in its header.

No code-executing formats: safetensors stores raw tensors and a string map, so loading a file can never run
code. A SHA-256 over the JSON and every tensor detects a foreign, corrupted or edited file.
(It is an integrity check, not a signature: someone who can rewrite the file can rewrite the
digest too; keep artifacts where only the pipeline can write.)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ArtifactError

__all__ = ["FORMAT", "write_artifact", "read_artifact"]

FORMAT = "dp-synth/1"
MAX_DOCUMENT_BYTES = 64 * 2**20  # a model document is a few hundred KB; refuse anything absurd
MAX_DEPTH = 32                   # real documents nest ~6 levels


def _depth(doc: str) -> int:
    """Deepest nesting of JSON arrays/objects, without parsing (strings skipped)."""
    depth = top = 0
    in_str = esc = False
    for ch in doc:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            top = max(top, depth)
            if top > MAX_DEPTH:
                return top
        elif ch in "]}":
            depth -= 1
    return top


def _digest(document: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(document.encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def write_artifact(path: str | Path, document: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """Write atomically: a crash never leaves a half-written model at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    doc = json.dumps(document, sort_keys=True)
    meta = {"format": FORMAT, "document": doc, "sha256": _digest(doc, tensors)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dp_synth_", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_artifact(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file {str(path)!r} not found")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ArtifactError(f"{str(path)!r} is not a dp-synth model file (not safetensors: {e})") from None
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{str(path)!r} is not a dp-synth model file (format {meta.get('format')!r}, "
                            f"expected {FORMAT!r}); refusing to load it")
    doc = meta.get("document", "")
    if len(doc) > MAX_DOCUMENT_BYTES or _depth(doc) > MAX_DEPTH:
        raise ArtifactError(f"{str(path)!r} is not a dp-synth model file (its document is too large or too "
                            "deeply nested); refusing to load it")
    if _digest(doc, tensors) != meta.get("sha256"):
        raise ArtifactError(f"{str(path)!r} failed its integrity check: the file was modified after "
                            "it was written. Re-create it with dp_synth.fit / dp-synth synthesize.")
    try:
        document = json.loads(doc)
    except RecursionError:
        raise ArtifactError(f"{str(path)!r} has an unreadable model document (nested too deeply)") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{str(path)!r} has an unreadable model document: {e}") from None
    if not isinstance(document, dict):
        raise ArtifactError(f"{str(path)!r} has an unreadable model document (not an object)")
    return document, tensors
