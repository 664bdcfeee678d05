"""Staff review: how stored items read (items), the admin transcript (transcript) and the
export formats (export)."""
