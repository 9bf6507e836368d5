# Puts tests/ on sys.path, so that test modules import the fake release generators
# (``from fake_releases import change_detection``) under pytest's importlib mode.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
