from __future__ import annotations

from models.train import baseline_table


def test_baseline_table_puts_the_model_beside_its_baselines() -> None:
    metrics = {"hr1": 0.5, "mrr": 0.6, "baseline_mostpop_hr1": 0.2, "baseline_mostpop_mrr": 0.3,
               "baseline_markov1_mrr": 0.4, "validation_mrr_markov": 0.9, "hr10": 0.99}  # fmt: skip
    table = baseline_table(metrics, ks=("hr1", "mrr"))
    assert table.rows() == [
        ("floyo", "hr1", 0.5), ("floyo", "mrr", 0.6), ("markov1", "mrr", 0.4), ("mostpop", "hr1", 0.2),
        ("mostpop", "mrr", 0.3),
    ]  # fmt: skip
    assert baseline_table({}).is_empty()
