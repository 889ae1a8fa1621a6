"""Networks: the default DS-CNN (kws), the tutorial baselines and the exportable wrapper."""
