"""Two checks on the lent GPU machine, run after scripts/gpu_check.sh on the same (warm) machine,
which leaves EMD-11007 and its mask in /tmp/gpuwork/cache and deepres in /tmp/site:

  PYTHONPATH=/tmp/site python3 scripts/gpu_diag.py

1. `deepres.estimate` on EMD-11007 (low range) three times in one process, float32 then bfloat16:
   the first call pays CUDA's start-up, the others show the steady state.
2. The same 4 training steps on the CPU and on the GPU (float32), with cuDNN's TF32 convolutions
   allowed and not: the validation MAE and the largest weight difference.

Recorded output: benchmarks/results/gpu_diag_2026-12-04.txt (run as .gpu/diag/diag.py, this file
less this docstring).
"""

import time, sys, os, tempfile
import numpy as np, torch, mrcfile
sys.path.insert(0, "tests")
import deepres
from deepres.samples import make_sample
from deepres.train import TrainConfig, train
from deepres.model import load_model
from deepres.features import FeatureConfig
from deepres.ranges import get_range
m = mrcfile.open("/tmp/gpuwork/cache/emd_11007.map", permissive=True); k = mrcfile.open("/tmp/gpuwork/cache/emd_11007_mask.mrc", permissive=True)
data = np.asarray(m.data, dtype=np.float32).copy(); mask = np.asarray(k.data) > 0.5
for prec in ("float32", "bfloat16"):
    for i in range(3):
        torch.cuda.synchronize(); t = time.time()
        r = deepres.estimate(data, mask, voxel_size_A=0.834, range="low", device="cuda", precision=prec)
        torch.cuda.synchronize(); print(prec, i, f"{time.time()-t:.2f} s", f"median {r.median_A:.3f}", flush=True)
s = make_sample("tests/data/1BVN_l_u.pdb.gz", get_range("low"), seed=5, features=FeatureConfig())
d = tempfile.mkdtemp(); os.makedirs(d + "/sh"); torch.save([s, s], d + "/sh/train_000.pt"); torch.save([s], d + "/sh/val_000.pt")
kw = dict(range_name="low", steps=4, batch=2, crop=6, val_every=4, threads=1, seed=3)
rc = train(d + "/sh", d + "/cpu.pt", TrainConfig(**kw), log=lambda m: None)
for tf32 in (True, False):
    torch.backends.cudnn.allow_tf32 = tf32
    rg = train(d + "/sh", d + f"/gpu{tf32}.pt", TrainConfig(**kw, device="cuda"), log=lambda m: None)
    wc, wg = (load_model("low", path=p).net.state_dict() for p in (d + "/cpu.pt", d + f"/gpu{tf32}.pt"))
    print("tf32", tf32, "mae cpu", rc["history"][-1]["mae_A"], "gpu", rg["history"][-1]["mae_A"],
          "max weight diff", max(float((wc[x] - wg[x]).abs().max()) for x in wc), flush=True)
