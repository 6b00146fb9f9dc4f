"""Make a model file of one range the start of a training run in the other range.

The low (1.0 Å/voxel) and high (0.5 Å/voxel) models share the front end and the architecture, and
their label ranges are almost the same in voxels (2.5–13 and 3–12 voxels; the roll-off is 0.02
cycles/voxel in both), so the weights of one are a guess at the other's: the output mapping is taken
from the target range (in voxels it differs by 2 % at the coarse end). The file keeps the weights and
the training record (the source's id in ``reranged_from``, read by ``deepres models --lineage``).

Usage: python scripts/rerange_model.py IN.pt OUT.pt RANGE NEW_ID
"""

import sys

from deepres.model import read_model_payload, write_model_payload
from deepres.ranges import get_range

if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, range_name, new_id = sys.argv[1:]
    spec = get_range(range_name)
    payload = read_model_payload(src)
    if payload["range"] == spec.name:
        sys.exit(f"{src} is already a {spec.name} model")
    payload["training"] = {**payload["training"], "reranged_from": f"{payload['model_id']} ({payload['range']})"}
    payload["net"] = {**payload["net"], "min_A": spec.min_A, "max_A": spec.max_A}
    payload["range"], payload["model_id"] = spec.name, new_id
    write_model_payload(dst, payload)
    print(f"{src} ({payload['training']['reranged_from']}) -> {dst} ({new_id}, {spec.name})")
