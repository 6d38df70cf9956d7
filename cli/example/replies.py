"""The bundled model's two replies for the demo: a wrong fix, then the right one, so the
demo shows a failure going back to the model and the second patch being verified."""

WRONG = """The discount is computed with the wrong scale; return the discounted amount.

pricing.py
<<<<<<< SEARCH
    return round(price - price * percent / 10, 2)
=======
    return round(price * percent / 100, 2)
>>>>>>> REPLACE
"""

RIGHT = """`percent / 10` takes ten times too much off: a percentage is divided by 100.

pricing.py
<<<<<<< SEARCH
    return round(price - price * percent / 10, 2)
=======
    return round(price - price * percent / 100, 2)
>>>>>>> REPLACE
"""

REPLIES = [WRONG, RIGHT]
