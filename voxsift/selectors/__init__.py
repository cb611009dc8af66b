"""Selection: filters, ranking methods and the budget, applied by the select stage."""
