"""Writes example_customers.csv: 3,000 made-up subscription customers and whether they left.

Mixed columns as real tables have them: an id, numbers with gaps (age, monthly charges), a few
distinct integers (support calls), categories with gaps (housing, payment), a long tail of
rare regions (which one-hot folds into 'infrequent'), and the churn label from a known
logistic model plus noise, so an MLP has something real to find. Run once; seeded.
"""

import csv
from pathlib import Path

import numpy as np

N = 3000
rng = np.random.default_rng(20261130)

contract = rng.choice(["Month-to-month", "One year", "Two year"], N, p=[0.55, 0.25, 0.20])
internet = rng.choice(["DSL", "Fiber optic", "None"], N, p=[0.35, 0.45, 0.20])
payment = rng.choice(
    ["Electronic check", "Mailed check", "Bank transfer", "Credit card"],
    N,
    p=[0.35, 0.2, 0.22, 0.23],
)
housing = rng.choice(["rent", "owner", "mortgage"], N, p=[0.45, 0.2, 0.35])
region_weights = 1.0 / np.arange(1, 41) ** 1.1
region = np.array([f"R{k:02d}" for k in range(40)])[
    rng.choice(40, N, p=region_weights / region_weights.sum())
]
age = rng.integers(18, 86, N)
tenure = np.where(contract == "Two year", rng.integers(12, 73, N), rng.integers(0, 61, N))
charges = np.round(
    20 + 25 * (internet == "DSL") + 55 * (internet == "Fiber optic") + rng.normal(0, 8, N), 2
)
calls = rng.poisson(1.2 + 1.5 * (internet == "Fiber optic"), N)

logit = (
    -1.2
    + 1.6 * (contract == "Month-to-month")
    - 1.0 * (contract == "Two year")
    + 0.7 * (internet == "Fiber optic")
    + 0.6 * (payment == "Electronic check")
    - 0.035 * tenure
    + 0.015 * (charges - 60)
    + 0.35 * calls
    - 0.012 * (age - 45)
    + 0.4 * (housing == "rent")
    + 0.8 * np.isin(region, ["R03", "R07"])
)
churn = np.where(rng.random(N) < 1 / (1 + np.exp(-logit)), "yes", "no")


def with_gaps(values: np.ndarray, share: float) -> list[str]:
    cells = values.astype(str)
    cells[rng.random(N) < share] = ""
    return cells.tolist()


columns = {
    "customer_id": [f"CU-{i:06d}" for i in rng.permutation(900_000)[:N] + 100_000],
    "age": with_gaps(age, 0.06),
    "tenure_months": tenure.astype(str).tolist(),
    "monthly_charges": with_gaps(charges, 0.03),
    "support_calls": calls.astype(str).tolist(),
    "contract": contract.tolist(),
    "internet": internet.tolist(),
    "payment_method": with_gaps(payment, 0.04),
    "housing": with_gaps(housing, 0.08),
    "region": region.tolist(),
    "churn": churn.tolist(),
}
with open(Path(__file__).with_name("example_customers.csv"), "w", newline="") as file:
    writer = csv.writer(file)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
