"""Scripts that reproduce the networks of Kang, Jiang & Li; run each as ``python experiments/NAME.py --help``.

The shared options, data setup and training loop live in :mod:`facestack.train.cli` and
:mod:`minicnn.train.loop`; each script only chooses its model, tasks and presets.
See ``docs/experiments.md``.
"""
