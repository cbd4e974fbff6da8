"""The verdict on the seed's claims, from run records only: cells, rows, rules, the verdict, tables, figures."""
