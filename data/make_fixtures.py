"""Write the small schema-exact fixtures under data/fixtures and their checksums.

The fixtures are synthetic (seeded) rows in the exact published layout of files the book cannot
redistribute, so the loaders can be tested offline. They carry no information about real
applicants; the value ranges follow the published data dictionary.

Run from the repository root: ``.venv/bin/python data/make_fixtures.py``. The output is
byte-identical across runs (seed 2024); ``data/CHECKSUMS.sha256`` records it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2024

KAGGLE_HEADER = [
    "loan_id", "no_of_dependents", "education", "self_employed", "income_annum", "loan_amount",
    "loan_term", "cibil_score", "residential_assets_value", "commercial_assets_value",
    "luxury_assets_value", "bank_asset_value", "loan_status",
]  # fmt: skip


def kaggle_loan_approval_rows(n: int = 60, seed: int = SEED) -> list[list[str]]:
    """Rows in the layout of Kaggle's ``loan_approval_dataset.csv``.

    Amounts are in rupees and multiples of 100,000 as in the published file; approval is
    driven mostly by the CIBIL score (as it is in the real file) so that a model has something
    to learn; about 60 % are approved.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, n + 1):
        income = int(rng.integers(2, 100)) * 100_000
        loan = int(min(income * rng.uniform(1.0, 4.0), 39_500_000) // 100_000) * 100_000
        cibil = int(rng.integers(300, 901))
        assets = [
            int(rng.integers(-1, 292) * 100_000),  # residential: the real file has -100,000
            int(rng.integers(0, 195) * 100_000),
            int(rng.integers(3, 393) * 100_000),
            int(rng.integers(0, 148) * 100_000),
        ]
        score = (cibil - 550) / 60 + rng.normal(0, 1.0)
        rows.append([
            str(i),
            str(int(rng.integers(0, 6))),
            "Graduate" if rng.random() < 0.5 else "Not Graduate",
            "Yes" if rng.random() < 0.5 else "No",
            str(income),
            str(loan),
            str(int(rng.integers(1, 11)) * 2),
            str(cibil),
            *map(str, assets),
            "Approved" if score > -0.4 else "Rejected",
        ])  # fmt: skip
    return rows


def write_kaggle(path: Path) -> None:
    # The published file puts a space after every comma, in the header and in every value.
    lines = [", ".join(KAGGLE_HEADER)] + [", ".join(r) for r in kaggle_loan_approval_rows()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def main() -> None:
    from fedlib.data.heloc import write_heloc_fixture

    fixtures = HERE / "fixtures"
    fixtures.mkdir(exist_ok=True)
    write_kaggle(fixtures / "kaggle_loan_approval_sample.csv")
    write_heloc_fixture(fixtures / "heloc_sample.csv", n_rows=60, seed=SEED)
    lines = []
    for target in sorted(fixtures.glob("*.csv")):
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        lines.append(f"{digest}  fixtures/{target.name}")
        print(f"wrote {target} ({digest[:12]})")
    (HERE / "CHECKSUMS.sha256").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
