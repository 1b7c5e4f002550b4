"""Lecture material built from the notebooks: reveal.js decks (``build``), the course map
(``course_map``, which writes ``notebooks/00_index.ipynb``) and a headless-browser check of the
decks (``browser``). See slides/README.md."""
