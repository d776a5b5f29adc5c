"""The web app's parts: input checks (inputs.py), rendering (render.py), the five
searches and "more like this" (search.py), the layout (layout.py) and where the index and
model come from (startup.py). app.py builds and serves them.

May import: embeddings (load and search an index, fetch from the Hub), model (encode a
query) and gradio. Never train/ or pipeline/: the app runs without the training code.
"""
