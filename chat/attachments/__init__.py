"""Attachments: what may be uploaded (policy), signed URLs (signing), storing bytes
(uploads), who may touch them (access), the ChatKit side (store), serving them (serving)
and stored files (files). Views in `chat.views` wire these to HTTP."""
