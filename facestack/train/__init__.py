"""Training the paper's networks: the shared command line (``cli``) and the paper's task weightings.

The loop itself is minicnn's general ``Trainer``; what is specific to faces and to the paper
(128 x 128 grey UTKFace images, the gender and age tasks, the presets, eq. 5's p and q) is here.
"""
