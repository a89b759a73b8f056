"""k2bench systems: inference configurations (plain, plan, best-of-N, k2_full, serving overlays) as the unit of evaluation."""
