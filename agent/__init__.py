"""The guess half of guess-and-check: issues, code context, model calls and the repair loop.

It drives ``verifix.sandbox`` and never imports the command line; the loop arrives with
``verifix fix``.
"""
