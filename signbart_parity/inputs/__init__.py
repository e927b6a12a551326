"""What the model is fed: generated keypoints and masks, hypothesis strategies, real upstream
samples with the published preprocessing, labelled datasets, synthetic sequences and
calibration sets. Pure numpy (and hypothesis): no model, no runtime.
"""
