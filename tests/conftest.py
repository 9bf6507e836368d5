import sys
from pathlib import Path

# `fake_releases` (generators of fake dataset releases) is imported by tests in every folder
sys.path.insert(0, str(Path(__file__).resolve().parent))
