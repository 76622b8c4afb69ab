"""Writes example_fruit.csv: 4 fruits x 80 rows, 4 overlapping numeric features. Run once."""

import csv
from pathlib import Path

import numpy as np

# per fruit: mean and spread of weight_g, length_cm, width_cm, sugar_pct
FRUITS = {
    "apple": ([170, 7.4, 7.4, 12.5], [35, 0.8, 0.7, 1.4]),
    "banana": ([125, 18.0, 3.6, 14.0], [28, 3.0, 0.7, 2.5]),
    "lemon": ([110, 8.8, 6.2, 2.5], [30, 1.2, 0.9, 1.5]),
    "orange": ([185, 8.0, 8.0, 8.5], [40, 0.8, 0.7, 1.4]),
}

rng = np.random.default_rng(20240601)
rows = [
    [*np.round(rng.normal(mean, spread), 2).tolist(), fruit]
    for fruit, (mean, spread) in FRUITS.items()
    for _ in range(80)
]
rows = [rows[i] for i in rng.permutation(len(rows))]
with open(Path(__file__).with_name("example_fruit.csv"), "w", newline="") as file:
    writer = csv.writer(file)
    writer.writerow(["weight_g", "length_cm", "width_cm", "sugar_pct", "fruit"])
    writer.writerows(rows)
