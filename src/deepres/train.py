"""Training of the deepres models on maps simulated with a known local resolution.

Two stages, each deterministic given a seed:

1. :func:`deepres.samples.generate_dataset` simulates the training and validation maps and stores
   each one's fixed front end (band energies), true resolution and mask in shards.
2. :func:`train` fits the learned 3D network on random crops of those samples, with random
   flips and axis permutations (the band energies are isotropic, so rotating the map by 90° or
   flipping it rotates or flips the features exactly), L1 loss in Å inside the mask (optionally
   plus a within-crop correlation term, :func:`crop_correlation_loss`), Adam with a
   cosine schedule, validation on a fixed set of structures kept out of training, and a
   checkpoint that a later run resumes from. ``--init`` fine-tunes a shipped model
   (:func:`init_from`, :func:`start_values`).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepres.features import FeatureConfig, feature_context
from deepres.model import PRECISIONS, bfloat16_cpu_warning, check_precision, make_network, save_model
from deepres.network import NetConfig
from deepres.ranges import get_range
from deepres.samples import POST_B_RANGE_A2, as_read_by, data_summary, front_end, generate_dataset, reads_samples_of
from deepres.shards import load_shards
from deepres.solvent import n_values as n_solvent_values


@dataclass
class TrainConfig:
    range_name: str = "low"
    steps: int = 3000
    batch: int = 4
    crop: int = 24  # output crop edge on the feature grid
    lr: float = 2e-3
    weight_decay: float = 1e-5
    seed: int = 0
    val_every: int = 250
    threads: int = 2
    width: int = 16  # channels of the learned 3D convolutions
    # dilations of the residual 3x3x3 convolutions (deepres.network.NetConfig). A run from --init may
    # append blocks to the start's: they start at zero (identity), so training starts from its function.
    dilations: tuple[int, ...] = NetConfig.dilations
    init: str | None = None  # model file to start from (fine-tuning); None: random initialisation
    context_quantiles: tuple[float, ...] = ()  # whole-map context (FeatureConfig.context_quantiles)
    half_maps: bool = False  # half-map features (FeatureConfig.half_maps): needs samples made with them
    # the filter bank (FeatureConfig): needs samples made with the same settings (checked)
    n_bands: int = FeatureConfig.n_bands
    smooth_wavelengths: float = FeatureConfig.smooth_wavelengths
    sparsity_bands: int = 0  # band-sparsity channels (FeatureConfig.sparsity_bands): samples made with them
    # arithmetic of the training steps: "float32", or "bfloat16" (autocast: the convolutions in
    # bfloat16, the weights, the optimiser and the loss in float32; ~2.5x faster on CPUs with
    # AVX512-BF16/AMX). Validation always runs in float32, as `deepres estimate` does by default.
    precision: str = "float32"
    # where the training steps and validation run: "cpu" or "cuda" (the lent GPU machine). The
    # samples stay in host memory; each batch's crops travel to the device in float16.
    device: str = "cpu"
    # weight of a within-crop correlation term added to the L1 loss (:func:`crop_correlation_loss`):
    # 0 (default) trains on the L1 loss alone
    corr_weight: float = 0.0
    # the solvent noise reference as more context (FeatureConfig.solvent_context; samples made with it),
    # withheld from each training map with this probability (:func:`withhold_solvent`)
    solvent_context: bool = False
    solvent_withhold: float = 0.15
    # train only the parameters whose names start with this (e.g. "ctx." for the whole-map context layer);
    # "" trains all. The rest keep the --init model's values.
    train_only: str = ""
    # with init: every value copied from the start stays fixed and only what the start lacks trains
    # (:func:`start_values`; e.g. the new columns of a widened context layer)
    train_new_only: bool = False


#: :func:`crop_correlation_loss` counts a crop when its truth has at least this standard deviation
#: (Å) over at least :data:`CORR_MIN_VOXELS` mask voxels (a near-uniform truth has no pattern to rank).
CORR_MIN_SD_A = 0.05
CORR_MIN_VOXELS = 64


def crop_correlation_loss(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean over the crops of a batch of ``1 - r``, r the Pearson correlation of estimate and
    truth over each crop's mask voxels (weights ``w``), counting only crops whose truth varies
    (:data:`CORR_MIN_SD_A`, :data:`CORR_MIN_VOXELS`); zero when none does.

    The L1 loss of a map whose estimates are all too high pushes every voxel the same way and says
    nothing about the pattern within the map; this term does, whatever the map's overall level
    (the benchmark's per-case r measures the same thing over whole maps).
    """
    p, t, m = (v.float().flatten(1) for v in (pred, y, w))
    n = m.sum(1)
    nz = torch.clamp(n, min=1.0)
    pc = p - (p * m).sum(1, keepdim=True) / nz[:, None]
    tc = t - (t * m).sum(1, keepdim=True) / nz[:, None]
    vp, vt = (m * pc * pc).sum(1) / nz, (m * tc * tc).sum(1) / nz
    cov = (m * pc * tc).sum(1) / nz
    r = cov / torch.sqrt((vp + 1e-6) * (vt + 1e-12))
    ok = (n >= CORR_MIN_VOXELS) & (vt >= CORR_MIN_SD_A ** 2)
    if not bool(ok.any()):
        return p.sum() * 0.0
    return (1.0 - r[ok]).mean()


def _draw_augment(rng: random.Random) -> tuple[list[int], list[bool]]:
    """A random axis permutation and flips (the band energies are isotropic, so both are exact)."""
    perm = [0, 1, 2]
    rng.shuffle(perm)
    return perm, [rng.random() < 0.5 for _ in range(3)]


def _augment(t: torch.Tensor, perm: list[int], flips: list[bool]) -> torch.Tensor:
    """Permute and flip the last three axes of ``t`` as drawn by :func:`_draw_augment`."""
    lead = t.dim() - 3
    t = t.permute(*range(lead), *[p + lead for p in perm])
    dims = [ax + lead for ax in range(3) if flips[ax]]
    return t.flip(dims) if dims else t


def sample_context(sample: dict, features: FeatureConfig | None) -> torch.Tensor | None:
    """The whole-map context vector of a stored sample (None when ``features`` has none). The
    stored features cover the whole simulated map (at most ``STORE_EDGE`` feature voxels a side,
    which the simulated box never exceeds), so this is the context that inference computes; the
    solvent reference (``features.solvent_context``) was measured on the whole simulated map when
    the sample was made."""
    if features is None or not features.n_context:
        return None
    f = torch.from_numpy(sample["features"][: features.n_bands].astype(np.float32))
    ctx = feature_context(f, torch.from_numpy(sample["weight"]), features)
    if features.solvent_context:
        if "solvent" not in sample:
            raise ValueError(f"sample {sample.get('structure')} seed {sample.get('seed')} has no solvent reference: "
                             "a network with --solvent-context needs samples made with it (their own --data-dir)")
        ctx = torch.cat([ctx, torch.tensor(sample["solvent"], dtype=torch.float32)])
    return ctx


def withhold_solvent(ctx: torch.Tensor, features: FeatureConfig, rng: random.Random, p: float) -> torch.Tensor:
    """``ctx`` (`(N, G)`) with each map's solvent reference replaced, with probability ``p``, by
    :func:`deepres.solvent.unavailable`'s (what inference gives when the map has no usable solvent),
    so the network also learns to do without one. ``rng`` is its own stream: the crops stay those
    of a run without it."""
    if not features.solvent_context or p <= 0:
        return ctx
    k = n_solvent_values(features)
    keep = torch.tensor([rng.random() >= p for _ in range(ctx.shape[0])], dtype=ctx.dtype, device=ctx.device)
    out = ctx.clone()
    out[:, -k:] *= keep[:, None]
    return out


def _edge_window(a: np.ndarray, starts, size: int, mode: str = "edge") -> np.ndarray:
    """The window ``[start, start + size)`` along the last three axes of ``a``, replicating the
    edge values where it runs past them (what indexing with clipped indices gives, but by slicing:
    a copy of the window only, and a padded copy only at the sample's edges); ``mode="constant"``
    pads with zeros instead."""
    sl, pads = [], []
    for st, n in zip(starts, a.shape[-3:]):
        lo, hi = min(max(st, 0), n - 1), max(min(st + size, n), 1)
        sl.append(slice(lo, hi))
        pads.append((lo - st, st + size - hi))
    w = a[(Ellipsis, *sl)]
    if any(p != (0, 0) for p in pads):
        w = np.pad(w, [(0, 0)] * (a.ndim - 3) + pads, mode=mode)
    return w


def _crop_batch(samples, idxs, crop, R, rng: random.Random, augment: bool, contexts=None,
                device: str | torch.device = "cpu"):
    """A batch of random crops on ``device``: features with a halo of ``R`` (replicate padding
    beyond the stored sample, like inference pads the feature volume), labels and weights (zero
    beyond it).

    Only the crop is copied out of the stored sample; it travels to the device in float16 and is
    converted and augmented there, so a GPU run is not held up by the CPU.
    """
    xs, ys, ws = [], [], []
    for i in idxs:
        s = samples[i]
        shape = s["label"].shape
        o = [rng.randint(0, max(n, crop) - crop) for n in shape]
        f = np.ascontiguousarray(_edge_window(s["features"], [a - R for a in o], crop + 2 * R))
        lab = np.ascontiguousarray(_edge_window(s["label"], o, crop))
        w = _edge_window(s["weight"], o, crop, mode="constant").astype(np.float32)  # 0 past the sample
        f, lab, w = (torch.from_numpy(v).to(device, non_blocking=True) for v in (f, lab, w))
        f = f.float()
        if augment:
            perm, flips = _draw_augment(rng)
            f, lab, w = (_augment(v, perm, flips) for v in (f, lab, w))
        xs.append(f)
        ys.append(lab)
        ws.append(w)
    ctx = None if contexts is None else torch.stack([contexts[i] for i in idxs]).to(device)
    return torch.stack(xs), torch.stack(ys)[:, None], torch.stack(ws)[:, None], ctx


@torch.no_grad()
def validation_predictions(net, samples, R, features: FeatureConfig | None = None,
                           per_map: bool = False) -> tuple[np.ndarray, np.ndarray] | tuple[list, list]:
    """Estimates and true resolutions (Å) at all mask voxels of ``samples``, concatenated, or with
    ``per_map`` as one array per sample (``features``: the model's front end, needed when the
    network takes a whole-map context). Runs in float32 on the device that holds ``net``."""
    was_training = net.training
    net.eval()
    dev = next(net.parameters()).device
    preds, labs = [], []
    for s in samples:
        f = torch.from_numpy(s["features"].astype(np.float32)).to(dev)
        fp = F.pad(f[None], (R,) * 6, mode="replicate")
        ctx = sample_context(s, features)
        p = net(fp, None if ctx is None else ctx[None].to(dev))[0, 0].cpu().numpy()
        w = s["weight"]
        preds.append(p[w])
        labs.append(s["label"][w])
    net.train(was_training)
    if per_map:
        return preds, labs
    return np.concatenate(preds), np.concatenate(labs)


def validate(net, samples, R, features: FeatureConfig | None = None) -> dict:
    """Mean absolute error, bias and Pearson r in Å over all mask voxels of the validation set, and
    the mean of the per-map Pearson r (the benchmark's per-case r)."""
    preds, labs = validation_predictions(net, samples, R, features, per_map=True)
    if not preds:
        return {}
    return map_set_scores(preds, labs)


def map_set_scores(preds: list[np.ndarray], labs: list[np.ndarray]) -> dict:
    """:func:`validation_scores` over all maps' voxels together, with :func:`per_map_pearson`."""
    return validation_scores(np.concatenate(preds), np.concatenate(labs)) | per_map_pearson(preds, labs)


def validation_scores(p: np.ndarray, t: np.ndarray) -> dict:
    """Mean absolute error, bias and Pearson r in Å of estimates ``p`` against truths ``t``."""
    return {
        "mae_A": float(np.mean(np.abs(p - t))),
        "bias_A": float(np.mean(p - t)),
        "pearson": float(np.corrcoef(p, t)[0, 1]) if p.size > 1 and p.std() > 0 and t.std() > 0 else float("nan"),
        "n_voxels": int(p.size),
    }


def per_map_pearson(preds: list[np.ndarray], labs: list[np.ndarray]) -> dict:
    """Mean over maps of the Pearson r of estimate and truth within each map, over the maps whose
    truth spans at least :data:`deepres.metrics.MIN_TRUTH_SPREAD_A` (as the benchmark's per-case r),
    and how many maps that was."""
    from deepres.metrics import pearson, truth_varies

    rs = [r for p, t in zip(preds, labs) if truth_varies(t) and np.isfinite(r := pearson(p, t))]
    return {"pearson_per_map": float(np.mean(rs)) if rs else float("nan"), "n_maps_varying": len(rs)}


def init_from(net, start) -> tuple[list[str], list[str], list[str]]:
    """Copy the weights of ``start`` into ``net`` for fine-tuning, where ``net`` may have more:
    a context layer (``ctx.*``), more input channels (the half-map features, appended after the
    others), more residual blocks, or a larger width. What ``start`` lacks starts at zero, so ``net``
    begins as exactly the same function. With a larger width the new channels keep ``net``'s own
    random weights for what flows into them, and every weight from a new channel into an old one
    (and into the output) starts at zero: the new channels compute from the start, but count only
    once training moves those weights.

    Returns (missing keys, unexpected keys, widened keys).
    """
    own = net.state_dict()
    src = dict(start.state_dict())
    n_start = len(start.config.dilations)
    if tuple(net.config.dilations[:n_start]) != tuple(start.config.dilations):
        raise ValueError(f"the start's dilations {tuple(start.config.dilations)} are not the first of "
                         f"{tuple(net.config.dilations)}")
    widened = []
    for k, v in list(src.items()):
        o = own.get(k)
        if o is None or o.shape == v.shape or o.dim() != v.dim() or \
                any(a < b for a, b in zip(o.shape, v.shape)) or o.shape[2:] != v.shape[2:]:
            continue
        w = o.detach().clone()  # new output channels (rows) keep the new network's initial weights
        if w.dim() >= 2:
            w[: v.shape[0], v.shape[1]:] = 0  # new input channels do not reach old outputs
        w[tuple(slice(0, n) for n in v.shape)] = v
        src[k] = w
        widened.append(k)
    # residual blocks appended after the start's begin at zero: relu(0) + h is the identity
    for k in own:
        if k.startswith("blocks.") and int(k.split(".")[1]) >= n_start:
            src[k] = torch.zeros_like(own[k])
    missing, unexpected = net.load_state_dict(src, strict=False)
    return list(missing), list(unexpected), widened


def start_values(net, start) -> dict[str, torch.Tensor]:
    """Where each parameter of ``net`` holds a value :func:`init_from` copied from ``start``: a bool
    tensor per parameter name (True: from the start), for parameters with at least one such value.
    A parameter that ``start`` has with the same shape is all True; a widened one is True over the
    start's slice; one that ``start`` lacks (or a residual block appended after the start's) is absent.
    """
    src = start.state_dict()
    n_start = len(start.config.dilations)
    out = {}
    for k, p in net.named_parameters():
        v = src.get(k)
        if v is None or (k.startswith("blocks.") and int(k.split(".")[1]) >= n_start):
            continue
        m = torch.zeros(p.shape, dtype=torch.bool)
        m[tuple(slice(0, n) for n in v.shape)] = True
        out[k] = m
    return out


#: a run stops with an error after this many non-finite steps in a row (each one's update is skipped)
MAX_SKIPS_IN_A_ROW = 50


def train(data_dir: str, out_path: str, cfg: TrainConfig, checkpoint: str | None = None, log=print,
          model_id: str | None = None, more_data: tuple[str, ...] = ()) -> dict:
    """Train a model on the shards in ``data_dir`` (and in each folder of ``more_data``: their
    training and validation samples join those of ``data_dir``) and write it to ``out_path``.

    Resumes from ``checkpoint`` (default ``out_path + '.ckpt'``) when it exists.
    """
    spec = get_range(cfg.range_name)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    net, feats = make_network(spec, FeatureConfig(context_quantiles=tuple(cfg.context_quantiles),
                                                  half_maps=cfg.half_maps, n_bands=cfg.n_bands,
                                                  smooth_wavelengths=cfg.smooth_wavelengths,
                                                  sparsity_bands=cfg.sparsity_bands,
                                                  solvent_context=cfg.solvent_context), width=cfg.width,
                             dilations=tuple(cfg.dilations))
    data_dirs = [data_dir, *more_data]
    train_s = as_read_by(feats, [s for d in data_dirs for s in load_shards(d, "train")], data_dirs)
    val_s = as_read_by(feats, [s for d in data_dirs for s in load_shards(d, "val")], data_dirs)
    if not train_s:
        raise RuntimeError(f"no training shards in {', '.join(data_dirs)}")
    init_record, from_start = None, {}
    if cfg.train_new_only and not cfg.init:
        raise ValueError("training only the new weights needs a start (init)")
    if cfg.init:
        from deepres.model import load_model

        start = load_model(spec.name, path=cfg.init)
        # a start without sparsity channels fits a network with them (their weights start at zero)
        if not reads_samples_of(start.features, front_end(feats)):
            raise ValueError(f"{cfg.init} has another front end than this training's")
        missing, unexpected, widened = init_from(net, start.net)
        if unexpected or any(not k.startswith("ctx.") for k in missing):
            raise ValueError(f"{cfg.init} does not fit this network: missing {missing}, unexpected {unexpected}")
        log(f"starting from {cfg.init} ({start.model_id}, sha256 {start.sha256[:12]})"
            + (f"; new context weights {missing} start at zero" if missing else "")
            + (f"; widened {widened}: weights from new channels into old ones start at zero" if widened else ""))
        init_record = {"model_id": start.model_id, "sha256": start.sha256, "training": start.training}
        if cfg.train_new_only:
            from_start = start_values(net, start.net)
    R = net.radius
    check_precision(cfg.precision)
    device = torch.device(cfg.device)
    if (bf16_note := bfloat16_cpu_warning(cfg.precision, device)) is not None:
        log("warning: " + bf16_note)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("training on cuda was asked for but no CUDA GPU is available")
        # float32 means float32 on the GPU too: cuDNN's default TF32 convolutions moved the weights of
        # a 4-step run 6e-3 away from the CPU's (1e-5 without). bfloat16 runs are unaffected.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    # channels-last activations: the CPU convolutions (oneDNN) run ~1.3x faster (the same function)
    net = net.to(device, memory_format=torch.channels_last_3d)
    contexts = [sample_context(s, feats) for s in train_s] if feats.n_context else None
    for n, p in net.named_parameters():
        p.requires_grad_(n.startswith(cfg.train_only) and not (n in from_start and bool(from_start[n].all())))
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    trained = [p for p in net.parameters() if p.requires_grad]
    if not trained:
        raise ValueError(f"no parameter name starts with {cfg.train_only!r}" if not cfg.train_new_only else
                         f"the network has no weights that {cfg.init} lacks" +
                         (f" among those starting with {cfg.train_only!r}" if cfg.train_only else ""))
    # values copied from the start that share a tensor with new ones: their gradients are dropped and,
    # after each step, the values put back (AdamW's weight decay moves them too)
    kept = [(p, from_start[n].to(device), p.detach().clone()) for n, p in net.named_parameters()
            if p.requires_grad and n in from_start]
    if cfg.train_only or cfg.train_new_only:
        n_values = sum(p.numel() for p in trained) - sum(int(m.sum()) for _, m, _ in kept)
        log(f"training only {'the new values of ' if cfg.train_new_only else ''}{', '.join(names)} ({n_values} "
            "values); the rest stays as the start's")
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    checkpoint = checkpoint or out_path + ".ckpt"
    step, history, rng, skipped_steps, n_bad_in_a_row = 0, [], random.Random(cfg.seed), [], 0
    withhold_rng = random.Random(cfg.seed + 1_000_033)  # its own stream: the same crops as without it
    t_start, elapsed_before = time.time(), 0.0
    if os.path.exists(checkpoint):
        ck = torch.load(checkpoint, weights_only=False, map_location=device)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step, history, elapsed_before = ck["step"], ck["history"], ck["elapsed_s"]
        skipped_steps = ck.get("skipped_steps", [])
        rng.setstate(ck["rng"])
        if "withhold_rng" in ck:
            withhold_rng.setstate(ck["withhold_rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {checkpoint} at step {step}")
    net.train()
    run_loss = None
    while step < cfg.steps:
        idxs = [rng.randrange(len(train_s)) for _ in range(cfg.batch)]
        x, y, w, ctx = _crop_batch(train_s, idxs, cfg.crop, R, rng, augment=True, contexts=contexts, device=device)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        if ctx is not None:
            ctx = withhold_solvent(ctx, feats, withhold_rng, cfg.solvent_withhold)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16"):
            pred = net(x, ctx)
        loss = (torch.abs(pred.float() - y) * w).sum() / torch.clamp(w.sum(), min=1.0)
        if cfg.corr_weight:
            loss = loss + cfg.corr_weight * crop_correlation_loss(pred, y, w)
        opt.zero_grad()
        loss.backward()
        for p, m, _ in kept:
            p.grad.masked_fill_(m, 0.0)
        grad_norm = torch.nn.utils.clip_grad_norm_(trained, 1.0)
        step += 1
        if torch.isfinite(loss) and torch.isfinite(grad_norm):
            opt.step()
            with torch.no_grad():
                for p, m, v in kept:
                    p[m] = v[m]
            n_bad_in_a_row = 0
            run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        else:
            # one non-finite gradient would make every weight NaN (clipping an infinite norm gives 0 * inf):
            # skip the update, as mixed-precision loss scaling does, and say so
            skipped_steps.append(step)
            n_bad_in_a_row += 1
            log(f"step {step}: non-finite loss or gradient (samples {idxs}); update skipped")
            if n_bad_in_a_row >= MAX_SKIPS_IN_A_ROW:
                raise RuntimeError(f"training diverged: {n_bad_in_a_row} non-finite steps in a row up to step {step}")
        sched.step()
        if step % 25 == 0:
            el = elapsed_before + time.time() - t_start
            shown = float("nan") if run_loss is None else run_loss  # None: every step so far skipped
            what = "MAE, A" if not cfg.corr_weight else f"MAE, A + {cfg.corr_weight:g} x (1 - crop r)"
            log(f"step {step}/{cfg.steps}  loss({what}) {shown:.3f}  lr {sched.get_last_lr()[0]:.2e}  {el:.1f} s")
        if step % cfg.val_every == 0 or step == cfg.steps:
            v = validate(net, val_s, R, feats) if val_s else {}
            v["step"] = step
            v["train_loss"] = run_loss
            history.append(v)
            log(f"validation at step {step}: {json.dumps(v)}")
            el = elapsed_before + time.time() - t_start
            torch.save(
                {
                    "net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "history": history, "elapsed_s": el, "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                    "withhold_rng": withhold_rng.getstate(),
                    "skipped_steps": skipped_steps,
                },
                checkpoint + ".tmp",
            )
            os.replace(checkpoint + ".tmp", checkpoint)
    elapsed = elapsed_before + time.time() - t_start
    record = {
        "config": asdict(cfg),
        "data_dirs": [os.path.basename(os.path.normpath(d)) for d in data_dirs],
        "n_train_samples": len(train_s),
        "n_val_samples": len(val_s),
        "train_structures": sorted({s["structure"] for s in train_s}),
        "val_structures": sorted({s["structure"] for s in val_s}),
        "data": data_summary(train_s),
        "history": history,
        "skipped_steps": skipped_steps,
        "train_seconds": elapsed,
        "torch": str(torch.__version__),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "init": init_record,
    }
    model_id = model_id or f"deepres-{spec.name}-v1"
    net = net.to("cpu", memory_format=torch.contiguous_format)
    save_model(out_path, spec, net, feats, {k: v for k, v in record.items() if k != "train_structures"}, model_id)
    with open(out_path + ".train.json", "w") as fh:
        json.dump(record, fh, indent=1)
    return record


# ---------------------------------------------------------------- command line (`deepres train`)
def add_arguments(p) -> None:
    """Options of ``deepres train``."""
    p.add_argument("--range", default="low", help="which model: low (2.5-13 A) or high (1.5-6 A)")
    p.add_argument("--structures", required=True, help="folder of atomic models (e.g. shared/data/structures/bm5)")
    p.add_argument("--data-dir", required=True, help="cache folder for simulated samples (resumable)")
    p.add_argument("--output", required=True, help="model file to write (e.g. src/deepres/models/low.pt)")
    p.add_argument("--n-train", type=int, default=1200, help="simulated training maps")
    p.add_argument("--n-val", type=int, default=60, help="simulated validation maps (structures never trained on)")
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=24, help="output crop edge on the feature grid (2 working voxels each)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=16, help="channels of the learned 3D convolutions")
    p.add_argument("--dilations", type=int, nargs="+", default=list(NetConfig.dilations),
                   help="dilations of the residual 3x3x3 convolutions; with --init, blocks after the start's begin "
                        "at zero (the identity)")
    p.add_argument("--init", default=None, help="model file to start from (fine-tuning with a new schedule)")
    p.add_argument("--context-quantiles", type=float, nargs="*", default=[],
                   help="whole-map context: these quantiles over the mask of each band's log-share (e.g. 0.1)")
    p.add_argument("--half-maps", action="store_true",
                   help="train a model that also reads the two half maps (its samples need their own --data-dir)")
    p.add_argument("--n-bands", type=int, default=FeatureConfig.n_bands,
                   help="band-pass filters of the fixed front end (its samples need their own --data-dir)")
    p.add_argument("--smooth-wavelengths", type=float, default=FeatureConfig.smooth_wavelengths, metavar="W",
                   help="width (Gaussian sigma) of the front end's local energy windows, in wavelengths of each "
                        "band (its samples need their own --data-dir)")
    p.add_argument("--sparsity-bands", type=int, default=0, metavar="K",
                   help="one more feature channel for each of the K finest bands: the local sparsity of the band's "
                        "values, (mean|b|)^2 / mean b^2 (its samples need their own --data-dir; a network without "
                        "them can train on those samples too)")
    p.add_argument("--corr-weight", type=float, default=0.0, metavar="L",
                   help="add L x (1 - r) to the L1 loss, r the correlation of estimate and truth within each "
                        "training crop whose truth varies (default 0: L1 alone)")
    p.add_argument("--post-sharpen", type=float, default=0.0, metavar="P",
                   help="when simulating: with probability P sharpen or blur the map after the noise "
                        f"(global B uniform in {POST_B_RANGE_A2} A^2, held constant beyond the map's Nyquist "
                        "frequency; the half maps stay raw)")
    p.add_argument("--post-sharpen-unbounded", action="store_true",
                   help="apply that B also beyond Nyquist (the box's corners), as the sets of the shipped models "
                        "were made: to reproduce them (at fine voxel sizes a strong B then leaves rounding noise)")
    p.add_argument("--global-b-after-field", action="store_true",
                   help="when simulating: apply the simulator's global B after the local-resolution field, as the "
                        "sets of the shipped models were made: to reproduce them (a strong sharpening then multiplies "
                        "the field's leak above each voxel's cut-off until it dominates some high-range maps)")
    p.add_argument("--input-voxel-size", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="when simulating: draw each map's input voxel size uniformly in [LO, HI] A and bring it to "
                        "the working sampling as 'deepres estimate' does (default: simulate at the working sampling)")
    p.add_argument("--atomic-b", choices=("model", "flat"), default="model",
                   help="when simulating: the atoms keep their B-factors (model, default) or all get the "
                        "structure's median B (flat: the imposed field alone sets how detailed each region is)")
    p.add_argument("--noise-cutoff-scale", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="when simulating: cut low-pass noise at a scale drawn uniformly in [LO, HI] times the "
                        "field's finest resolution (default: at the finest resolution itself)")
    p.add_argument("--solvent-context", action="store_true",
                   help="give the network the map's solvent noise reference (each band's power outside the mask "
                        "against inside, deepres.solvent) as more whole-map context (its samples need their own "
                        "--data-dir)")
    p.add_argument("--solvent-withhold", type=float, default=0.15, metavar="P",
                   help="with --solvent-context: withhold the reference from each training map with probability P, "
                        "as inference does for a map without usable solvent (default 0.15)")
    p.add_argument("--train-only", default="", metavar="PREFIX",
                   help="train only the parameters whose names start with PREFIX (e.g. ctx. for the whole-map "
                        "context layer, with --init); default: all")
    p.add_argument("--train-new-only", action="store_true",
                   help="with --init: train only the weights the start lacks (e.g. the new columns of a widened "
                        "context layer); every value copied from the start stays as it is")
    p.add_argument("--data-seed", type=int, default=None,
                   help="seed of the simulated samples (default: --seed); keep it to reuse a data folder")
    p.add_argument("--model-id", default=None, help="id recorded in the model file (default deepres-<range>-v1)")
    p.add_argument("--workers", type=int, default=2, help="processes for simulation")
    p.add_argument("--threads", type=int, default=2, help="torch threads for training")
    p.add_argument("--val-every", type=int, default=250, help="steps between validations (and checkpoints)")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="arithmetic of the training steps: bfloat16 autocasts the convolutions (~2.5x faster "
                        "on CPUs with AVX512-BF16/AMX; weights, optimiser and loss stay float32; validation "
                        "runs in float32)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the training steps run (simulation always runs on the CPU)")
    p.add_argument("--more-data", nargs="+", default=[], metavar="DIR",
                   help="more folders of samples, already simulated (e.g. by an earlier stage) with the same front "
                        "end: their training and validation samples join those of --data-dir")
    p.add_argument("--generate-only", action="store_true", help="only simulate the samples")


def run(args) -> int:
    """Run ``deepres train``: simulate (or reuse) the samples, then fit and write the model."""
    from deepres.errors import InputError

    data_seed = args.seed if args.data_seed is None else args.data_seed
    if args.input_voxel_size is not None and not 0 < args.input_voxel_size[0] <= args.input_voxel_size[1]:
        raise InputError(f"--input-voxel-size needs 0 < LO <= HI (A/voxel), got {args.input_voxel_size[0]:g} "
                         f"{args.input_voxel_size[1]:g}")
    ncs = args.noise_cutoff_scale
    if ncs is not None and not (all(math.isfinite(x) for x in ncs) and 0 < ncs[0] <= ncs[1]):
        raise InputError(f"--noise-cutoff-scale needs 0 < LO <= HI, got {ncs[0]:g} {ncs[1]:g}")
    if args.train_new_only and not args.init:
        raise InputError("--train-new-only needs --init (the model whose weights stay as they are)")
    if not 0 <= args.solvent_withhold < 1:
        raise InputError(f"--solvent-withhold needs 0 <= P < 1, got {args.solvent_withhold:g}")
    if not (math.isfinite(args.corr_weight) and args.corr_weight >= 0):
        raise InputError(f"--corr-weight needs a finite value >= 0, got {args.corr_weight:g}")
    if not 0 <= args.sparsity_bands <= args.n_bands:
        raise InputError(f"--sparsity-bands needs 0 <= K <= --n-bands ({args.n_bands}), got {args.sparsity_bands}")
    missing = [d for d in args.more_data if not os.path.isdir(d)]
    if missing:
        raise InputError(f"--more-data: no folder {missing[0]}")
    generate_dataset(args.structures, args.data_dir, args.range, args.n_train, args.n_val, seed=data_seed,
                     workers=args.workers, features=FeatureConfig(half_maps=args.half_maps, n_bands=args.n_bands,
                                                                  smooth_wavelengths=args.smooth_wavelengths,
                                                                  sparsity_bands=args.sparsity_bands,
                                                                  solvent_context=args.solvent_context),
                     post_sharpen=args.post_sharpen,
                     input_voxel_A=tuple(args.input_voxel_size) if args.input_voxel_size else None,
                     atomic_b=args.atomic_b, noise_cutoff_scale=tuple(ncs) if ncs else None,
                     post_b_bounded=not args.post_sharpen_unbounded, global_b_first=not args.global_b_after_field)
    if args.generate_only:
        return 0
    cfg = TrainConfig(range_name=get_range(args.range).name, steps=args.steps, batch=args.batch, crop=args.crop,
                      lr=args.lr, seed=args.seed, threads=args.threads, width=args.width, init=args.init,
                      dilations=tuple(args.dilations),
                      context_quantiles=tuple(args.context_quantiles), half_maps=args.half_maps,
                      precision=args.precision, val_every=args.val_every, device=args.device,
                      n_bands=args.n_bands, smooth_wavelengths=args.smooth_wavelengths,
                      sparsity_bands=args.sparsity_bands, corr_weight=args.corr_weight,
                      solvent_context=args.solvent_context, solvent_withhold=args.solvent_withhold,
                      train_only=args.train_only, train_new_only=args.train_new_only)
    rec = train(args.data_dir, args.output, cfg, log=lambda m: print(m, file=sys.stderr, flush=True),
                model_id=args.model_id, more_data=tuple(args.more_data))
    print(json.dumps(rec["history"][-1] if rec["history"] else {}, indent=1))
    return 0


if __name__ == "__main__":  # python -m deepres.train ...
    import argparse

    _p = argparse.ArgumentParser(prog="python -m deepres.train", description=__doc__.splitlines()[0])
    add_arguments(_p)
    sys.exit(run(_p.parse_args()))
