"""Pure statistics for the analyst side: customer lifetime models (BG/NBD, Gamma-Gamma),
their evaluation, and A/B-test figures. Arrays and numbers in, numbers out: no ClickHouse,
no clocks, no I/O (numpy and scipy only), so every figure is testable against published
values and scipy's own tests."""
