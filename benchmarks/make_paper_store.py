"""A synthetic score store with the paper's shape, in the store's real format (not committed: it is ~300 MB).

50,000 image ids (50 per label, labels 0-999) x 76 variants (clean + 15 corruptions x 5 severities) = 3.8M rows;
3 task models' correctness (M) and 6 quality scores (Q), and §6.3's 20 mixtures (the mixtures table). M comes from a logistic model of a latent difficulty
(image content + corruption severity + noise); the Qs are correlated with that difficulty, some strongly (a
classifier's confidence), some weakly (NR metrics), one not at all. `causaliqa analyze` runs on it unchanged:

    python benchmarks/make_paper_store.py /tmp/paper_store
    causaliqa analyze /tmp/paper_store --m resnet34.correct --m convnext_base.correct --m swin_b.correct \
        --q conf_strong.max_prob --q conf_medium.max_prob --q iqa:brisque.score --q iqa:niqe.score --q tv.score --q noise.score
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from causaliqa.data.corrupt import CORRUPTIONS  # noqa: E402
from causaliqa.scoring.store import save_mixtures, write_scores  # noqa: E402

M_MODELS = {"resnet34": 0.0, "convnext_base": 0.6, "swin_b": 0.8}  # better models: lower difficulty offset
Q_SCORES = {  # column: (loading on difficulty, noise sd, higher is better)
    "conf_strong.max_prob": (-1.0, 0.6, True),
    "conf_medium.max_prob": (-0.6, 1.0, True),
    "iqa:brisque.score": (0.3, 1.0, False),
    "iqa:niqe.score": (0.2, 1.0, False),
    "tv.score": (0.05, 1.0, False),
    "noise.score": (0.0, 1.0, True),
}


def paper_frame(images: int = 50_000, seed: int = 0) -> tuple[pd.DataFrame, np.random.Generator]:
    """The synthetic rows (and the generator, to draw the mixtures from)."""
    rng = np.random.default_rng(seed)
    variants = [("clean", 0)] + [(c, s) for c in CORRUPTIONS for s in range(1, 6)]
    n = images * len(variants)
    image = np.repeat(np.arange(images), len(variants))
    corruption = np.tile(np.array([c for c, _ in variants], dtype=object), images)
    severity = np.tile(np.array([s for _, s in variants], dtype=np.int16), images)
    hardness = {c: rng.uniform(0.2, 0.8) for c in CORRUPTIONS} | {"clean": 0.0}
    difficulty = rng.normal(size=images)[image] + severity * pd.Series(corruption).map(hardness).to_numpy() + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({
        "image_id": np.char.add("ILSVRC2012_val_", np.char.zfill(image.astype(str), 8)), "corruption": corruption,
        "severity": severity, "label": (image // 50) % 1000, "input_sha": "synthetic",
    })
    for model, offset in M_MODELS.items():
        frame[f"{model}.correct"] = (rng.random(n) < 1 / (1 + np.exp(difficulty - 1.0 - offset))).astype(np.int8)
    for column, (loading, sd, _) in Q_SCORES.items():
        frame[column] = loading * difficulty + rng.normal(0, sd, n)
    return frame, rng


def make(out: Path, images: int = 50_000, seed: int = 0) -> pd.DataFrame:
    frame, rng = paper_frame(images, seed)
    info = {f"{m}.correct": {"estimator": m, "output": "correct", "kind": "binary", "higher_is_better": True} for m in M_MODELS}
    info |= {c: {"estimator": c.rsplit(".", 1)[0], "output": c.rsplit(".", 1)[1], "kind": "score", "higher_is_better": hib}
             for c, (_, _, hib) in Q_SCORES.items()}
    write_scores(out, frame, info, "make_paper_store")
    save_mixtures(out, mixtures(images, rng))
    return frame


def mixtures(images: int, rng: np.random.Generator, fractions: int = 20) -> pd.DataFrame:
    """Paper §6.3: for p_c = 0.05 ... 1.0, a fraction p_c of the ids takes a mild variant (severity 1-2 of a random
    corruption), the others stay clean; the members are variants the store already holds (one row per id each)."""
    ids = np.char.add("ILSVRC2012_val_", np.char.zfill(np.arange(images).astype(str), 8))
    frames = []
    for p_c in np.round(np.linspace(1 / fractions, 1.0, fractions), 4):
        hit = rng.random(images) < p_c
        frames.append(pd.DataFrame({
            "variant": f"pc={p_c:.2f}", "p_c": p_c, "image_id": ids,
            "corruption": np.where(hit, rng.choice(np.array(CORRUPTIONS, dtype=object), images), "clean"),
            "severity": np.where(hit, rng.integers(1, 3, images), 0).astype(np.int16)}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = make(args.out, args.images, args.seed)
    print(f"{len(frame):,} rows x {frame.shape[1]} columns in {args.out}/scores, 20 mixtures in {args.out}/mixtures")


if __name__ == "__main__":
    main()
