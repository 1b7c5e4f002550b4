"""Labs: one module per notebook, for that notebook's own machinery.

A lab module holds what only one notebook needs and whose point is not the
notebook's idea (that is written in the notebook itself): benchmark harnesses,
table builders, conversion pipelines, figures. Lab modules may import every
other layer of ``course_utils``; nothing outside ``labs`` imports them
(``tests/test_layering.py`` checks it).
"""
