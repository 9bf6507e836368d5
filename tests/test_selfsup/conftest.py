import sys
from pathlib import Path

# tiny_pretraining.py (the seeded batch and the tiny model) sits beside the tests that use it
sys.path.insert(0, str(Path(__file__).resolve().parent))
