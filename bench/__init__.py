"""`make bench`: the performance figures the issues ask for, measured, printed as tables."""
