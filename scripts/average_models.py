"""Average the weights of model files of one line of training into one model file ("model soup").
Usage: python scripts/average_models.py OUT.pt MODEL_ID A.pt B.pt [...]"""

import sys

from deepres.model import average_models

if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    lm = average_models(sys.argv[3:], sys.argv[1], sys.argv[2])
    print(f"{sys.argv[1]}: {lm.model_id}, {lm.n_parameters} parameters, sha256 {lm.sha256}")
