"""Generates the Pillow bicubic resize fixtures of tests/pillow_resize.rs.

Inputs are deterministic synthetic RGB images (gradients, stripes, seeded noise, hard
edges) of awkward sizes; outputs are Pillow's `Image.resize((224, 224), Image.BICUBIC)`,
exactly what the SigLIP image processor does. Run with Pillow installed:
    python make.py
"""

import random

from PIL import Image

random.seed(20261123)
SIZES = [(320, 240), (50, 37), (500, 90), (224, 300)]
for w, h in SIZES:
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            r = (x * 255) // max(w - 1, 1)
            g = (y * 255) // max(h - 1, 1)
            b = 255 if (x // 7 + y // 5) % 2 else 0
            if (x - w // 2) ** 2 + (y - h // 2) ** 2 < (min(w, h) // 4) ** 2:
                r, g, b = 250, 20, 30
            n = random.randint(-12, 12)
            px[x, y] = tuple(max(0, min(255, c + n)) for c in (r, g, b))
    img.save(f"in_{w}x{h}.png")
    img.resize((224, 224), Image.BICUBIC).save(f"out_{w}x{h}.png")
print("pillow", Image.__version__ if hasattr(Image, "__version__") else "")
