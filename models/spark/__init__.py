"""The Spark engine: association rules (MLlib FPGrowth) and workflows (Spark SQL) mined over the Parquet lake."""
