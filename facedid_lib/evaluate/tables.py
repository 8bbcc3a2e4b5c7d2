"""The chapters' attack tables: chapter 5's Tables 2 and 3 (:func:`attack_table`), chapter 6's
rank-attack table (:func:`rank_attack_table`), chapter 7's defence tables (:func:`clean_table`,
:func:`defence_table`), and the helpers that set a table beside the paper's.
"""

from __future__ import annotations

import dataclasses
import pandas as pd
import torch

from facedid_lib import metrics
from facedid_lib.data.facesets import FaceSet
from facedid_lib.metrics.columns import MR
from facedid_lib.evaluate.harness import check_measured, measure, rank_profile
from facedid_lib.recognize.protocol import classifier, has_scores, predict


@dataclasses.dataclass
class AttackResults:
    """What :func:`attack_table` measured: the table, and per ``(model, method)`` the de-identified
    images (CPU, the faces' order) and the attack object (its ``history`` and ``targets``)."""

    table: pd.DataFrame
    images: dict
    attacks: dict


def attack_table(models: dict, parameters: dict, faces: FaceSet, recognizers: dict, target: str = "random",
                 seed: int = 0, device=None, progress: bool = True) -> AttackResults:
    """The P-FGVM paper's Table 3 on our faces: each attack on its model, measured on every recognizer.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips, the models attacked (e.g.
        ``{"Model A": A.on_chips(), "Model B": B.on_chips()}``); each name must also be a key of
        ``recognizers``.
    parameters : ``(model name, attack name) -> parameters`` of
        :func:`facedid_lib.attacks.adversarial.make` (the paper's Table 2, or ours).
    faces : the faces to de-identify; recognizers : as in :func:`evaluate`.
    target, seed : whom the faces should become (the same seeded targets for every method).

    Returns
    -------
    :class:`AttackResults`; its table has one row per ``(model, method)`` with ``L2``, ``SSIM``,
    ``MR`` (on the attacked model: the paper's column), ``TS`` (targeted success on it) and
    ``MR <name>`` for every recognizer (the transfer of the attack).
    """
    from facedid_lib.attacks import adversarial

    missing = sorted({model for model, _ in parameters} - set(models))
    if missing:
        raise ValueError(f"parameters name models {missing} that models does not hold")
    missing = sorted(set(models) - set(recognizers))
    if missing:
        raise ValueError(f"recognizers must include the attacked models, missing {missing}")
    rows, images, attacks = {}, {}, {}
    for (model_name, method), params in parameters.items():
        attack = adversarial.make(method, models[model_name], target=target, seed=seed, **params)
        new = attack.perturb(faces.images, faces.labels, desc=f"{method} on {model_name}", progress=progress)
        row = measure(faces, new, recognizers, device=device)
        ts = (metrics.targeted_success_rate(classifier(models[model_name])(new), attack.targets)
              if attack.targets is not None else float("nan"))
        rows[model_name, method] = {"L2": row["L2"], "SSIM": row["SSIM"], "MR": row[MR.column(model_name)], "TS": ts,
                                    **{k: row[k] for k in MR.columns(row).values()}}
        images[model_name, method], attacks[model_name, method] = new, attack
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "method"])
    return AttackResults(table, images, attacks)


@dataclasses.dataclass
class RankAttackResults:
    """What :func:`rank_attack_table` measured: the table, per model the rank profiles (one row per
    attack, :func:`rank_profile` on the attacked model), the de-identified images (CPU, the faces'
    order) and the attack objects, both as ``[model][label]``."""

    table: pd.DataFrame
    profiles: dict
    images: dict
    attacks: dict


def rank_attack_table(models: dict, settings: dict, faces: dict, recognizers: dict, device=None,
                      progress: bool = True) -> RankAttackResults:
    """The lecture's k-A^3 table on our faces: each attack on each model, with where the true label went.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips (the models attacked); each
        name must be a key of ``recognizers`` whose recognizer has scores (:class:`Recognizer`).
    settings : ``label -> (attack name, parameters)`` for
        :func:`facedid_lib.attacks.adversarial.make` (e.g. ``"5-A^3": ("k-A^3", {"k": 5})``),
        run untargeted on every model.
    faces : ``model name -> FaceSet``, the faces attacked on each model.
    recognizers : as in :func:`evaluate` (the transfer columns ``MR <name>``).

    Returns
    -------
    :class:`RankAttackResults`; its table has one row per ``(model, label)`` with the lecture's
    ``SSIM`` (%), ``MSE x 1e4`` and ``ASR`` (%, ``r(1) != y`` on the attacked model), ``at rank``
    (share of faces whose true label sits at the rank the attack designated for it; k-A^3 only),
    ``P(rank 2)``, ``max P`` (the largest ``P(r(i) = y)`` over the ranks), ``L2`` and ``MR <name>``
    for every recognizer.

    The attacked model's recognizer runs once per attack: its labels give its ``MR`` column, its
    scores the ranks and the profile.
    """
    from facedid_lib.attacks import adversarial

    missing = sorted(set(models) - set(faces))
    if missing:
        raise ValueError(f"faces must give the faces of every model, missing {missing}")
    for name in models:
        if not has_scores(recognizers.get(name)):
            raise ValueError(f"recognizers must include {name!r} with scores (a Recognizer)")
    rows, profiles, images, attacks = {}, {}, {}, {}
    for model_name, model in models.items():
        chosen = faces[model_name]
        images[model_name], attacks[model_name], profile = {}, {}, {}
        for label, (name, params) in settings.items():
            attack = adversarial.make(name, model, **params)
            new = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {model_name}", progress=progress)
            # the attacked model runs once: its labels give the MR column, its scores the ranks and the profile
            labels, scores = predict(recognizers[model_name], new, scores=True)
            row = measure(chosen, new, recognizers, device=device, predicted={model_name: labels})
            ranks = metrics.true_label_rank(scores, chosen.labels)
            designated = getattr(attack, "designated", None)
            probability = metrics.rank_probability(ranks, scores.shape[1])
            rows[model_name, label] = {
                "SSIM": 100 * row["SSIM"], "MSE x 1e4": 1e4 * row["MSE"], "ASR": 100 * float((ranks > 1).float().mean()),
                "at rank": float((ranks == designated).float().mean()) if designated is not None else float("nan"),
                "P(rank 2)": float(probability[1]), "max P": float(probability.max()), "L2": row["L2"],
                **{k: row[k] for k in MR.columns(row).values()}}
            images[model_name][label], attacks[model_name][label] = new, attack
            profile[label] = scores
        profiles[model_name] = rank_profile(images[model_name], chosen.labels, recognizers[model_name],
                                            scores=profile)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "attack"])
    return RankAttackResults(table, profiles, images, attacks)


def _a_label(a: float) -> str:
    return f"a={a:g}"


def clean_table(recognizers: dict, faces: FaceSet) -> pd.DataFrame:
    """What a defence costs on clean faces: per recognizer, in %, ``accuracy`` (recognised as
    themselves), ``false rejects`` (rejected as adversarial: a defended recognizer's
    :data:`~facedid_lib.metrics.REJECT`) and ``errors`` (recognised as someone else), from
    :func:`facedid_lib.metrics.outcomes`; the three add up to 100."""
    check_measured(faces, recognizers)
    rows = {}
    for name, recognize in recognizers.items():
        counts = metrics.outcomes(torch.as_tensor(recognize(faces.images)).cpu(), faces.labels)
        rows[name] = {"accuracy": 100 * counts["failed"] / counts["n"],
                      "false rejects": 100 * counts["detected"] / counts["n"],
                      "errors": 100 * counts["succeeded"] / counts["n"], "n": counts["n"]}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclasses.dataclass
class DefenceResults:
    """What :func:`defence_table` measured: the table, and per ``[model][label]`` the faces of the
    attack on the plain model (``undefended``, None for an adaptive attack) and on the defended
    network (``defended``), on the CPU in the faces' order, and the attack objects on the
    defended network (``attacks``)."""

    table: pd.DataFrame
    undefended: dict
    defended: dict
    attacks: dict

    def as_lecture(self, model: str, transfer: bool = False) -> pd.DataFrame:
        """``model``'s rows in the lecture's columns (:func:`facedid_lib.data.published.mygdalis_attacks`):
        the attacks on the defended network, or (``transfer``) the undefended attacks' faces on the
        defended recognizer, whose "def." SSIM and MSE are then the undefended ones."""
        rows = self.table.loc[model]
        if not transfer:
            return rows[[c for c in rows.columns if not c.startswith("transfer ")]]
        out = rows[["SSIM", "MSE x 1e4", "ASR"]].assign(**{"def. SSIM": rows["SSIM"], "def. MSE": rows["MSE x 1e4"]})
        moved = {c: c[len("transfer "):] for c in rows.columns if c.startswith("transfer ")}
        return pd.concat([out, rows[list(moved)].rename(columns=moved)], axis=1)


def defence_table(models: dict, defences: dict, settings: dict, faces: dict, a_values=(1.0, 0.97),
                  adaptive: dict | None = None, undefended: dict | None = None,
                  progress: bool = True) -> DefenceResults:
    """The lecture's m-SVDD table on our faces: each attack on the plain and on the defended model.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips (the undefended models).
    defences : ``name -> defence`` for the same names, a fitted
        :class:`facedid_lib.defences.svdd.MSVDD` (its ``network`` on the same chips, its
        ``recognizer(a)`` and ``threshold(a)``).
    settings : ``label -> (attack name, parameters)`` for
        :func:`facedid_lib.attacks.adversarial.make`, run on both networks; or, per model,
        ``name -> {label -> (attack name, parameters)}`` (a model may run fewer attacks).
    faces : ``name -> FaceSet``, the faces attacked on each model.
    a_values : the defence parameters measured (the lecture's 1 and 0.97).
    adaptive : ``label -> (attack name, parameters)`` of attacks that know the defence
        (:class:`facedid_lib.attacks.adaptive.AdaptiveCW`), run on the defended network only with
        ``T`` the strictest ``T(a)`` (the highest, so the faces pass every ``a`` measured); per
        model as ``settings`` may be.
    undefended : ``name -> {label -> faces}``, the attacks on the plain model computed before (another
        table's :attr:`DefenceResults.undefended` for the same model, settings and faces): used
        instead of attacking the plain model again (a second defence of the same model).

    Returns
    -------
    :class:`DefenceResults`; one row per ``(model, label)``, in %: ``SSIM``, ``MSE x 1e4`` and
    ``ASR`` (``r(1) != y``) of the attack on the plain model; ``def. SSIM`` and ``def. MSE`` of
    the attack on the defended network; per ``a``, the three outcomes on the defended recognizer
    (``ASR a=...`` succeeded, ``F a=...`` failed: the true label came back, ``D a=...``
    detected: rejected), which add up to 100; and ``transfer ASR``, ``transfer F``, ``transfer D``
    at each ``a``: the same three outcomes of the undefended attack's faces on the defended
    recognizer (an attacker who does not know about the defence). A rejection is never a success.
    """
    from facedid_lib.attacks import adversarial

    missing = sorted((set(models) ^ set(defences)) | (set(models) - set(faces)))
    if missing:
        raise ValueError(f"models, defences and faces must name the same models; unmatched: {missing}")
    a_values = tuple(a_values)
    if not a_values:
        raise ValueError("give at least one value of a")
    given = undefended or {}
    rows, undefended, defended, attacks = {}, {}, {}, {}
    for name, model in models.items():
        defence, chosen = defences[name], faces[name]
        guarded = {a: defence.recognizer(a) for a in a_values}
        plain = classifier(model, n_classes=defence.n_classes)
        undefended[name], defended[name], attacks[name] = {}, {}, {}
        strictest = max(defence.threshold(a) for a in a_values)
        runs = [(label, spec, False) for label, spec in _per_model(settings, name, models).items()]
        runs += [(label, spec, True) for label, spec in _per_model(adaptive or {}, name, models).items()]
        for label, (attack_name, params), knows in runs:
            row = {}
            if not knows:
                new = given.get(name, {}).get(label)
                if new is None:
                    attack = adversarial.make(attack_name, model, **params)
                    new = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {name}", progress=progress)
                elif new.shape != chosen.images.shape:
                    raise ValueError(f"undefended[{name!r}][{label!r}] holds {tuple(new.shape)} faces, the faces "
                                     f"are {tuple(chosen.images.shape)}")
                row.update({"SSIM": 100 * float(metrics.ssim(new, chosen.images).mean()),
                            "MSE x 1e4": 1e4 * float(metrics.mse(new, chosen.images).mean()),
                            "ASR": 100 * metrics.misclassification_rate(plain(new), chosen.labels)})
                undefended[name][label] = new
            params = {**params, "T": strictest} if knows else params
            attack = adversarial.make(attack_name, defence.network, **params)
            new_d = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {name} + m-SVDD",
                                   progress=progress)
            row.update({"def. SSIM": 100 * float(metrics.ssim(new_d, chosen.images).mean()),
                        "def. MSE": 1e4 * float(metrics.mse(new_d, chosen.images).mean())})
            for a, recognize in guarded.items():
                counts = metrics.outcomes(recognize(new_d), chosen.labels)
                for column, key in (("ASR", "succeeded"), ("F", "failed"), ("D", "detected")):
                    row[f"{column} {_a_label(a)}"] = 100 * counts[key] / counts["n"]
            for a, recognize in guarded.items():
                if not knows:
                    counts = metrics.outcomes(recognize(new), chosen.labels)
                    for column, key in (("ASR", "succeeded"), ("F", "failed"), ("D", "detected")):
                        row[f"transfer {column} {_a_label(a)}"] = 100 * counts[key] / counts["n"]
            rows[name, label] = row
            defended[name][label], attacks[name][label] = new_d, attack
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "attack"])
    return DefenceResults(table, undefended, defended, attacks)


def _span(values) -> str:
    """``"40.0"`` or ``"40.0 to 60.0"``: the range of a column, as the summaries print it."""
    low, high = float(min(values)), float(max(values))
    return f"{low:.1f}" if abs(high - low) < 0.05 else f"{low:.1f} to {high:.1f}"


def defence_summary(results: DefenceResults, model: str, clean: pd.DataFrame | None = None,
                    plain: str | None = None, defended: str | None = None, label: str = "m-SVDD") -> str:
    """What :func:`defence_table` measured for ``model``, as Markdown bullets written from the numbers
    (a page prints them under the table, so its text never disagrees with it): the attacks on the
    defended network (success and detection at ``a = 1`` and ``0.97``, beside the plain model's
    success), the transfer of the plain model's attacks, each adaptive attack, and, with a
    :func:`clean_table` ``clean``, the price on clean faces (rows ``plain`` and ``defended``)."""
    rows = results.table.loc[model]
    attacks = [label_ for label_ in rows.index if pd.notna(rows.loc[label_, "ASR"])]
    known = [label_ for label_ in rows.index if pd.isna(rows.loc[label_, "ASR"])]
    r = rows.loc[attacks]
    lines = [f"- **{model} + {label}, attacked on the defended network** ({', '.join(attacks)}): the attacks "
             f"succeed on {_span(r['ASR a=1'])} % of the faces at a = 1 and {_span(r['ASR a=0.97'])} % at "
             f"a = 0.97 (on the plain model {_span(r['ASR'])} %); detected {_span(r['D a=1'])} % and "
             f"{_span(r['D a=0.97'])} %.",
             f"- **Transfer** (the faces crafted on the plain {model}): recognised again "
             f"{_span(r['transfer F a=1'])} %, still fooled {_span(r['transfer ASR a=1'])} %, detected "
             f"{_span(r['transfer D a=1'])} % at a = 1 ({_span(r['transfer D a=0.97'])} % at a = 0.97)."]
    for name in known:
        row = rows.loc[name]
        lines.append(f"- **{name}** (knows T): succeeds on {row['ASR a=1']:.1f} % at a = 1 and "
                     f"{row['ASR a=0.97']:.1f} % at a = 0.97, detected {row['D a=0.97']:.1f} %.")
    if clean is not None:
        lines.append(f"- **Clean test faces**: {plain} recognises {clean.loc[plain, 'accuracy']:.1f} %, "
                     f"{defended} {clean.loc[defended, 'accuracy']:.1f} %, with "
                     f"{clean.loc[defended, 'false rejects']:.1f} % false rejects.")
    return "\n".join(lines)


def _per_model(settings: dict, name: str, models: dict) -> dict:
    """``settings`` for the model ``name``: its own entry where ``settings`` is keyed by the models."""
    if settings and set(settings) <= set(models) and all(isinstance(v, dict) for v in settings.values()):
        return settings.get(name, {})
    return settings


def improvement(table: pd.DataFrame, proposed: str = "P-FGVM") -> pd.DataFrame:
    """The P-FGVM paper's percentage improvements of ``proposed`` on every other method, per model.

    The paper's own numbers follow these definitions (recomputed from its Table 3):
    ``L2 % = 100 (L2_other - L2_P) / L2_other``, ``SSIM % = 100 (SSIM_P - SSIM_other) / SSIM_P``
    and ``MR % = 100 (MR_P - MR_other) / MR_other``; positive is better for P-FGVM.

    ``table``: indexed by ``(model, method)`` with columns ``L2``, ``SSIM``, ``MR`` (as
    :func:`attack_table`'s or :func:`facedid_lib.data.published.pfgvm_table3`).
    """
    rows = {}
    for model in table.index.unique(0):
        p = table.loc[(model, proposed)]
        for other in table.loc[model].index:
            if other == proposed:
                continue
            o = table.loc[(model, other)]
            rows[model, f"{proposed} vs {other}"] = {
                "L2 %": 100 * (o.L2 - p.L2) / o.L2, "SSIM %": 100 * (p.SSIM - o.SSIM) / p.SSIM,
                "MR %": 100 * (p.MR - o.MR) / o.MR if o.MR else float("nan")}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["model", "comparison"])
    return out


def beside(tables: dict) -> pd.DataFrame:
    """Tables of the same rows side by side: ``{"ours": t1, "paper": t2}`` -> each column the first
    table shares with another as ``(column, "ours")``, ``(column, "paper")``, ... in the first
    table's column order, on the first table's rows (NaN where another table has no such row or
    column)."""
    if len(tables) < 2:
        raise ValueError(f"give at least two tables, got {len(tables)}")
    names, frames = list(tables), list(tables.values())
    first = frames[0]
    columns = [c for c in first.columns if any(c in f.columns for f in frames[1:])]
    if not columns:
        raise ValueError("the tables share no column")
    frames = [f.reindex(index=first.index) for f in frames]
    parts = {(c, name): frame[c] if c in frame.columns else float("nan")
             for c in columns for name, frame in zip(names, frames)}
    return pd.DataFrame(parts, index=first.index)


def disagreement(table: pd.DataFrame) -> pd.Series:
    """Per row, the spread between the recognizers' MR (max - min): where they disagree most."""
    columns = list(MR.columns(table.columns).values())
    return table[columns].max(axis=1) - table[columns].min(axis=1)


__all__ = ["AttackResults", "attack_table", "RankAttackResults", "rank_attack_table", "clean_table", "DefenceResults", "defence_table", "defence_summary", "improvement", "beside", "disagreement"]
