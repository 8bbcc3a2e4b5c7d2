"""Every method of chapters 2-6 as a :class:`~facedid_lib.evaluate.threats.Protection`, at matched utility.

Chapter 8 compares the course's methods under the same threat models. A method with a parameter
that trades quality for privacy (blur's ``sigma``, pixelation's ``block``, SVD's ``rank``...) is set
where its output has the same mean SSIM to the clean faces as every other such method
(:func:`~facedid_lib.evaluate.threats.matched_setting`, a bisection over that parameter); a method
without one (the eye bar, the generators, the adversarial attacks, whose perturbation is small by
design) keeps its chapter's setting. :data:`COURSE_METHODS` lists them, one :class:`Entry` each;
:func:`course_protections` turns them into protections and a table of the settings it chose.

A new method of the course is one :class:`Entry` in :data:`COURSE_METHODS`.

Example
-------
>>> from facedid_lib.evaluate import comparison
>>> len(comparison.COURSE_METHODS), comparison.COURSE_METHODS[0]
(18, Entry(chapter=2, name='blur', search='sigma', settings={}, attack=False, target='untargeted', high=None))
>>> [e.name for e in comparison.COURSE_METHODS if e.attack]
['I-FGSM', 'I-FGVM', 'P-FGVM', 'C&W', 'k-A^3']
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from facedid_lib.core import config
from facedid_lib.evaluate.threats import OutOfReach, Protection, matched_setting


@dataclasses.dataclass(frozen=True)
class Entry:
    """One method of the course as chapter 8 compares it.

    ``name``: a registered method (:mod:`facedid_lib.methods`) or, with ``attack``, an attack of
    :mod:`facedid_lib.attacks.adversarial` on Model A; ``search``: the parameter set for matched
    utility (None: ``settings``, the chapter's, are used as they are); ``high``: the searched
    range's upper end where it is not the parameter's declared one; ``target``: an attack's target
    mode (chapter 5's attacks aim at random identities, chapter 6's are untargeted).
    """

    chapter: int
    name: str
    search: str | None = None
    settings: dict = dataclasses.field(default_factory=dict)
    attack: bool = False
    target: str = "untargeted"
    high: float | None = None


def _rank_attack_budget() -> dict:
    """Iterations and search rounds of C&W and k-A^3: chapter 6's in the full profile (200, 9); in
    the quick one (20, 2), half of chapter 6's quick iterations and rounds, for chapter 8 attacks the
    attackers' gallery too (twice as many faces as the test faces in the quick profile)."""
    steps, rounds = config.by_profile(quick=(20, 2), full=(200, 9))
    return dict(steps=steps, search_steps=rounds)


#: The course's methods, chapter by chapter: chapter 2's classical and k-Same methods, chapter 3's
#: autoencoders and SAN, chapter 4's generators, chapter 5's attacks at our Table 2 settings for
#: Model A, chapter 6's C&W and 5-A^3 (their iteration budgets follow the profile at call time,
#: :func:`_rank_attack_budget`). k-Same is k-Same-Pixel (k-Same-Eigen differs in the space it averages in).
COURSE_METHODS: tuple = (
    Entry(2, "blur", "sigma"),
    Entry(2, "pixelate", "block"),
    Entry(2, "mask", settings={"region": "eyes"}),
    Entry(2, "gaussian-noise", "sigma"),
    Entry(2, "svd", "rank"),
    Entry(2, "eigenface", "n_components", high=200),
    Entry(2, "hypersphere", settings={"radius": 0.5}),  # SSIM rises, then falls along the radius
    Entry(2, "k-same-pixel", settings={"k": 3}),
    Entry(3, "autoencoder", "shrink"),
    Entry(3, "attribute-preserving"),
    Entry(3, "san"),
    Entry(4, "ciagan"),
    Entry(4, "anonymousnet"),
    Entry(5, "I-FGSM", settings={"alpha": 0.0016, "eps": 0.016, "steps": 20}, attack=True, target="random"),
    Entry(5, "I-FGVM", settings={"alpha": 0.2, "eps": 0.03, "steps": 20}, attack=True, target="random"),
    Entry(5, "P-FGVM", settings={"alpha": 0.5, "lam": 0.2, "steps": 20}, attack=True, target="random"),
    Entry(6, "C&W", settings={"lr": 0.01, "c": 1.0}, attack=True),
    Entry(6, "k-A^3", settings={"k": 5, "w_ssim": 1.0}, attack=True),
)


@dataclasses.dataclass
class CourseProtections:
    """What :func:`course_protections` chose: the ``protections`` (in :data:`COURSE_METHODS`'s
    order) and ``settings``, one row per protection: ``chapter``, ``family`` (the method's family,
    ``"adversarial"`` for an attack), ``method``, ``parameter`` and ``value`` (the searched
    parameter, empty for a chapter setting), ``SSIM searched`` (on the
    faces the search ran on) and ``how``: ``"matched"`` (within the tolerance), ``"closest (integer
    steps)"`` (an integer parameter whose neighbouring values straddle the level), ``"chapter
    setting"``, or ``"out of reach: ..."`` when the method cannot reach the level and keeps its
    chapter's setting."""

    protections: list
    settings: pd.DataFrame


def course_protections(faces, level: float, model_a=None, needs: dict | None = None, entries=COURSE_METHODS,
                       tolerance: float = 0.02, progress: bool = True) -> CourseProtections:
    """Every entry of ``entries`` as a :class:`Protection`, set to mean SSIM ``level`` where it can.

    Parameters
    ----------
    faces : the :class:`~facedid_lib.data.facesets.FaceSet` the searches run on (the test faces).
    level : the target mean SSIM to the clean faces (matched utility).
    model_a : Model A's logits on the chips (``course.model_a.on_chips()``), which the attacks
        attack (None: the attacks are left out).
    needs : the prerequisites of the methods by provider name (``{"space": ..., "gan": ...}``);
        a method whose prerequisites are missing is made with :func:`facedid_lib.methods.provide`
        (trained once, then loaded from the trained-model cache).
    tolerance : how far from ``level`` a searched setting may land.
    """
    from tqdm.auto import tqdm

    from facedid_lib import methods

    needs = dict(needs or {})
    protections, rows = [], []
    for entry in tqdm(entries, desc=f"settings at SSIM {level}", disable=not progress):
        family = "adversarial" if entry.attack else methods.get(entry.name).family
        row = {"chapter": entry.chapter, "family": family, "method": entry.name, "parameter": "",
               "value": float("nan"), "SSIM searched": float("nan"), "how": "chapter setting"}
        if entry.attack:
            if model_a is None:
                continue
            params = {**entry.settings, **(_rank_attack_budget() if entry.chapter == 6 else {})}
            protection = Protection.of_attack(entry.name, model_a, "Model A", target=entry.target, **params)
        else:
            method = methods.get(entry.name)
            needs = prerequisites([entry], needs, progress=False)
            given = {**entry.settings, **method.pick(needs)}
            if entry.search is not None:
                try:
                    param, value, ssim = matched_setting(entry.name, level, faces, entry.search,
                                                         high=entry.high, tolerance=tolerance,
                                                         **given)
                    given[param] = value
                    how = "matched" if abs(ssim - level) <= tolerance else "closest (integer steps)"
                    row.update(parameter=param, value=value, **{"SSIM searched": ssim, "how": how})
                except OutOfReach as reason:
                    row["how"] = f"out of reach: {reason}"
            protection = Protection.of_method(entry.name, **given)
        protections.append(protection)
        rows.append({"protection": protection.label, **row})
    return CourseProtections(protections, pd.DataFrame(rows).set_index("protection"))


def prerequisites(entries=COURSE_METHODS, needs: dict | None = None, progress: bool = True) -> dict:
    """The prerequisites of ``entries``' methods by provider name (the eigenface space, the trained
    autoencoders, the SAN, the GAN), those in ``needs`` kept, the others made by
    :func:`facedid_lib.methods.provide` with each entry's settings: trained the first time (minutes on
    a CPU), then loaded from the trained-model cache. A chapter calls it in cells of its own before
    :func:`compare`, so that no one cell trains every network."""
    from facedid_lib import methods

    needs = dict(needs or {})
    for entry in entries:
        if entry.attack:
            continue
        method = methods.get(entry.name)
        if any(need not in needs for need in method.needs):
            needs.update(methods.provide(method, progress=progress, **entry.settings))
    return needs


def entries_named(*names: str, entries=COURSE_METHODS) -> list:
    """The entries of ``entries`` whose methods are called ``names``, in ``entries``' order.

    >>> [e.chapter for e in entries_named("san", "ciagan")]
    [3, 4]
    """
    unknown = set(names) - {e.name for e in entries}
    if unknown:
        raise ValueError(f"no entries named {sorted(unknown)}")
    return [e for e in entries if e.name in names]


@dataclasses.dataclass
class Comparison:
    """What :func:`compare` measured: ``table`` (:func:`~facedid_lib.evaluate.threats.threat_table`'s
    columns plus ``chapter`` and ``family``, indexed by ``(level, protection)``), ``settings``
    (:class:`CourseProtections`'s, indexed the same way) and per level the protections."""

    table: pd.DataFrame
    settings: pd.DataFrame
    protections: dict

    def at(self, level: float) -> pd.DataFrame:
        """The table's rows at one utility ``level``, indexed by protection."""
        return self.table.xs(level, level="level")


def compare(faces, world, levels=(0.5,), threats=None, detectors: dict | None = None, needs: dict | None = None,
            entries=COURSE_METHODS, tolerance: float = 0.02, progress: bool = True) -> Comparison:
    """Chapter 8's table: every entry at every utility level under every threat.

    ``faces``: the test faces (the searches and the measures run on them); ``world``: the gallery
    and recognizers (:class:`~facedid_lib.evaluate.threats.World`, whose ``model_a`` the attacks
    attack); ``threats``, ``detectors``: as :func:`~facedid_lib.evaluate.threats.threat_table`'s.
    A protection that keeps its chapter's setting at every level is measured once and its row
    repeated at the other levels (the same numbers).
    """
    from facedid_lib.evaluate.threats import threat_table

    model = world.model_a.on_chips() if world.model_a is not None else None
    tables, settings, protections, measured = [], [], {}, {}
    for level in levels:
        chosen = course_protections(faces, level, model_a=model, needs=needs, entries=entries, tolerance=tolerance,
                                    progress=progress)
        new = [p for p in chosen.protections if p.label not in measured]
        if new:
            fresh = threat_table(new, faces, world, threats, detectors, progress=progress)
            measured.update({label: row for label, row in fresh.iterrows()})
        rows = pd.DataFrame([measured[p.label] for p in chosen.protections],
                            index=[p.label for p in chosen.protections])
        rows.insert(0, "family", chosen.settings["family"].to_numpy())
        rows.insert(0, "chapter", chosen.settings["chapter"].to_numpy())
        tables.append(rows)
        settings.append(chosen.settings)
        protections[level] = chosen.protections
    index = lambda frames: pd.concat(frames, keys=list(levels), names=["level", "protection"])
    return Comparison(index(tables), index(settings), protections)


def beside_mcpherson(table: pd.DataFrame, n_classes: int, threat: str = "adaptive", k: int = 5) -> pd.DataFrame:
    """McPherson et al.'s accuracies beside ours: for our blur and pixelation rows of ``table`` (one
    level of :attr:`Comparison.table`), the ``threat`` attacker's top-1 accuracy ``100 (1 - MR)``,
    its top-``k`` retrieval and chance ``100 / n_classes``, in percent, with the paper's
    (:func:`facedid_lib.data.published.mcpherson_obfuscation`, FaceScrub's 530 identities).
    """
    from facedid_lib.data import published
    from facedid_lib.evaluate.tables import beside

    names = {"blur": "blur (YouTube)", "pixelate": "mosaic"}
    rows = {}
    for label, row in table.iterrows():
        method = label.split(" ")[0]
        if method in names:
            rows[names[method]] = {"top-1 %": 100 * (1 - row[f"MR {threat}"]),
                                   "top-5 %": 100 * row[f"top-{k} {threat}"], "chance %": 100 / n_classes,
                                   "setting": label}
    ours = pd.DataFrame.from_dict(rows, orient="index").rename_axis("obfuscation")
    paper = published.mcpherson_obfuscation().reindex(ours.index)
    paper["setting"] = ["FaceScrub, as the paper's"] * len(paper)
    return beside({f"ours ({threat} attacker)": ours, "McPherson et al.": paper})


def by_recognizer(table: pd.DataFrame) -> pd.DataFrame:
    """Who is protected against whom, one row per recognizer: the per-recognizer ``MR <title>``
    columns of ``table`` (one level of :attr:`Comparison.table`) turned into rows (SFace, the dlib
    black box, the parrot and adaptive recognizers, the defended Model A...), one column per
    protection; NaN where that recognizer was not shown that protection.

    >>> t = pd.DataFrame({"MR unseen": [0.9], "MR SFace": [0.9], "MR dlib black box": [1.0]}, index=["blur"])
    >>> by_recognizer(t)["blur"].to_dict()
    {'SFace': 0.9, 'dlib black box': 1.0}
    """
    from facedid_lib.evaluate.threats import THREATS

    per_threat = {f"MR {name}" for name in THREATS.names()}
    columns = [c for c in table.columns if c.startswith("MR ") and c not in per_threat]
    out = table[columns].T
    out.index = pd.Index([c[len("MR "):] for c in columns], name="recognizer")
    return out


def holds(table: pd.DataFrame, threats, mr: float = 0.5) -> pd.DataFrame:
    """Which protection holds against whom: ``True`` where the attacker's best recognizer misses at
    least ``mr`` of the faces (``MR <threat> >= mr``), ``False`` where it names more, NaN where the
    threat does not apply; one row per protection of ``table`` (one level), one column per threat,
    and ``all`` (holds against every attacker that applies)."""
    out = pd.DataFrame(index=table.index)
    for threat in threats:
        column = table[f"MR {threat}"]
        out[threat] = (column >= mr).where(column.notna())
    out["all"] = out.apply(lambda row: bool(row.dropna().astype(bool).all()), axis=1)
    return out


__all__ = ["Entry", "COURSE_METHODS", "CourseProtections", "course_protections", "prerequisites", "entries_named",
           "Comparison", "compare", "beside_mcpherson", "by_recognizer", "holds"]
