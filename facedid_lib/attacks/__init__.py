"""Adversarial attacks on recognizers and detectors, one registry for all
(:data:`facedid_lib.attacks.adversarial.ATTACKS`): chapter 5's I-FGSM, I-FGVM, P-FGVM and PGD
(:mod:`~facedid_lib.attacks.adversarial`), chapter 6's minimal attacks L-BFGS, DeepFool and C&W
(:mod:`~facedid_lib.attacks.minimal`) and k-A^3 (:mod:`~facedid_lib.attacks.kanonymity`),
chapter 7's adaptive C&W (:mod:`~facedid_lib.attacks.adaptive`), and de-detection
(:mod:`~facedid_lib.attacks.dedetection`)."""

from facedid_lib.attacks import adaptive, adversarial, kanonymity, minimal  # noqa: F401  (register their attacks)
