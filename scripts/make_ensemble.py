"""Combine trained model files into one ensemble model file (the estimate is the geometric mean
of the members'). Usage: python scripts/make_ensemble.py OUT.pt MODEL_ID A.pt B.pt [...]"""

import sys

from deepres.model import combine_models

if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    lm = combine_models(sys.argv[3:], sys.argv[1], sys.argv[2])
    print(f"{sys.argv[1]}: {lm.model_id}, {len(lm.net.members)} members, {lm.n_parameters} parameters, "
          f"sha256 {lm.sha256}")
