"""Give a model file another id (the weights and training record unchanged; the old id is kept in
the record as ``renamed_from``). Used when a run's file is shipped under another name than its
training run gave it (docs/models.md).

Usage: python scripts/set_model_id.py IN.pt OUT.pt NEW_ID
"""

import sys

from deepres.model import read_model_payload, write_model_payload

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, new_id = sys.argv[1:]
    payload = read_model_payload(src)
    payload["training"] = {**payload["training"], "renamed_from": payload["model_id"]}
    payload["model_id"] = new_id
    write_model_payload(dst, payload)
    print(f"{src} ({payload['training']['renamed_from']}) -> {dst} ({new_id})")
