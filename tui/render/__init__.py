"""Pure builders: reports and snapshots in, rich Text out (plots, the score field, tables); no widgets here."""
