"""Build-time check of the baked-in spaCy model: it loads, and its version is the pinned one.

Prints the record (model, package, version, source) that the steps image keeps at
/opt/pixelgate/spacy-model.json; exits non-zero if the model is missing or another version.
Usage: python spacy_model.py MODEL PACKAGE VERSION
"""

import json
import sys

import spacy

model, package, expected = sys.argv[1:4]
nlp = spacy.load(model)
version = nlp.meta["version"]
if version != expected:
    sys.exit(f"spaCy model {model} is {version}, expected {expected} (package {package})")
record = {
    "model": model,
    "package": package,
    "version": version,
    "source": f"PyPI package {package}=={expected}",
    "spacy": spacy.__version__,
}
print(json.dumps(record, indent=2))
