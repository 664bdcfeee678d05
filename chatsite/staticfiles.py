"""The static files storage of a deployment (DEBUG off): hashed names, compressed copies."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedModulesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage, with the chat client's `import … from "./x.js"` lines
    rewritten to the hashed names too (Django's opt-in for JavaScript modules). Without it
    a hashed page script imports unhashed modules, which browsers keep for a minute: for
    that minute after a deploy, new code could run with old modules."""

    support_js_module_import_aggregation = True
