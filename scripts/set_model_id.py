"""Give a model file another id (the weights and training record unchanged; the old id is kept in
the record as ``renamed_from``). Used when a run's file is shipped under another name than its
training run gave it (docs/models.md).

Usage: python scripts/set_model_id.py IN.pt OUT.pt NEW_ID
"""

import os
import sys

import torch

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, new_id = sys.argv[1:]
    payload = torch.load(src, map_location="cpu", weights_only=True)
    payload["training"] = {**payload["training"], "renamed_from": payload["model_id"]}
    payload["model_id"] = new_id
    tmp = dst + ".tmp"
    torch.save(payload, tmp)
    os.replace(tmp, dst)
    print(f"{src} ({payload['training']['renamed_from']}) -> {dst} ({new_id})")
