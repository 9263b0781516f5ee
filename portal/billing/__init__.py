"""Billing arithmetic: pure Python, no Flask, no SQLAlchemy.

Frozen dataclasses in, frozen dataclasses out; money is integer cents, fractional
intermediates are ``decimal.Decimal``. The same functions price a quote (projected usage)
and an invoice (metered usage), so the two can never disagree.
"""
